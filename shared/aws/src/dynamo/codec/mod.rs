//! Item layout of the single table and the conversions to and from domain
//! types. Amounts are stored as integer fen in DynamoDB numbers: exact in
//! DynamoDB and in every emulator, and never a float anywhere.
//!
//! | item            | PK              | SK                        | GSI1 (by order)          | GSI2 (by day)          |
//! |-----------------|-----------------|---------------------------|--------------------------|------------------------|
//! | shop            | `SHOP#{shop}`   | `SHOP`                    |                          |                        |
//! | order           | `SHOP#{shop}`   | `ORDER#{order}`           | (GSI3 `OPENORDER` while unpaid and expiring)      |
//! | payout quota    | `SHOP#{shop}`   | `QUOTA#{operator}`        |                          |                        |
//! | payout          | `SHOP#{shop}`   | `PAYOUT#{payout}`         | `SHOP#{s}#ORDER#{o}` / `PAYOUT#{p}` | `SHOP#{s}#DAY#{d}` / `PAYOUT#{p}` |
//! | idempotency     | `SHOP#{shop}`   | `IDEMPOTENCY#{key}`       |                          |                        |
//! | refund          | `SHOP#{shop}`   | `REFUND#{refund}`         | `SHOP#{s}#ORDER#{o}#REFUNDS` / `REFUND#{r}` |         |
//! | refund idempotency | `SHOP#{shop}` | `REFUNDIDEM#{key}`       |                          |                        |
//! | balance adjustment | `SHOP#{shop}` | `ADJUSTMENT#{key}`      | (the record is its `Idempotency-Key` claim)        |
//! | refund pointer  | `REFUND#{r}`    | `REFUND`                  | (a refund's shop, for provider notices)           |
//! | shop day        | `SHOP#{shop}`   | `DAY#{date}`              |                          |                        |
//! | operator day    | `SHOP#{shop}`   | `OPDAY#{date}#{operator}` |                          |                        |
//! | collected day   | `SHOP#{shop}`   | `COLLECTED#{date}`        | (`collected_fen`: the daily collection cap's counter; KPI counters `orders_created`, `orders_closed_unpaid`, `plan_checkouts`) |  |
//! | plan checkout   | `SHOP#{shop}`   | `PLANCHECKOUT#{order}`    | (an order's checkout counted once; TTL `expires_at_s`) |  |
//! | device          | `DEVICE#{dev}`  | `DEVICE`                  |                          |                        |
//! | payout pointer  | `PAYOUT#{p}`    | `PAYOUT`                  | (a payout's shop, for provider notices)           |
//! | payout attempt  | `SHOP#{shop}`   | `PAYOUT#{p}#ATTEMPT#{ms}#{n}` |                      |                        |
//! | notice          | `SHOP#{shop}`   | `NOTICE#{ms}#{notice}`    |                          |                        |
//! | ledger entry    | `SHOP#{shop}`   | `LEDGER#{date}#{entry}`   |                          | `LEDGERDAY#{d}#{part}` / `{shop}#{entry}` |
//! | QR code         | `SHOP#{shop}`   | `QR#{qr}`                 |                          |                        |
//! | out_order_no    | `SHOP#{shop}`   | `OUTORDER#{no}`           | (claims a shop's order number for one code)       |
//! | order pointer   | `ORDER#{order}` | `ORDER`                   | (an order's shop, for provider notices)           |
//! | POS nonce       | `DEVICE#{dev}`  | `NONCE#{nonce}`           | (TTL `expires_at_s`)     |                        |
//! | notification    | `NOTIFICATION#{provider}#{id}` | `NOTIFICATION` | (dedupe; TTL `expires_at_s`)               |
//! | movement        | `MOVEMENT#{entry}` | `MOVEMENT`             | (a provider movement already in the ledger)       |
//! | anomaly         | `ANOMALY#{date}` | `ANOMALY#{anomaly}`      |                          |                        |
//! | reconciliation  | `RECON#{shop}`  | `RECON#{date}`            | (the day's summary, as JSON in `summary`)         |
//! | once            | `ONCE#{key}`    | `ONCE`                    | (an alert already sent; TTL `expires_at_s`)       |
//! | lease           | `LEASE#{key}`   | `LEASE`                   | (a run's hold on its day; TTL `expires_at_s`)     |
//! | sweep cursor    | `SWEEPCURSOR#{status}` | `SWEEPCURSOR`      | (where the sweeper's walk over open payouts stopped) |
//!
//! GSI3 is sparse: only payouts not yet final carry `GSI3PK = OPEN#{status}`
//! and `GSI3SK = {last change ms}#{shop}#{payout}`, and only orders still
//! `CREATED` with an expiry carry `GSI3PK = OPENORDER` and `GSI3SK =
//! {expires_at ms}#{shop}#{order}`, so the sweeper finds stale payouts and
//! expired orders without scanning. A closed order and its pointer carry
//! the TTL `expires_at_s` (35 days after closing). Refunds not yet final carry
//! `GSI3PK = OPENREFUND#{status}` likewise.

mod keys;
mod ledger;
mod orders;
mod payouts;
mod refunds;
mod shops;
mod values;

pub use keys::*;
pub use ledger::*;
pub use orders::*;
pub use payouts::*;
pub use refunds::*;
pub use shops::*;
pub use values::*;
