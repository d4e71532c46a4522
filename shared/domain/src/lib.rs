//! qrpay's domain: money, ids, business days, shops, orders, payouts and the
//! payout rules. No I/O and no AWS types: every function is a thin adapter
//! from its event to what lives here.

pub mod adjustment;
pub mod books;
pub mod branding;
pub mod checkout;
pub mod collection;
pub mod controls;
pub mod execution;
pub mod ids;
pub mod instalment;
pub mod kpis;
pub mod money;
pub mod money_text;
pub mod order;
pub mod order_listing;
pub mod payee;
pub mod payment;
pub mod payout;
pub mod plan_terms;
pub mod processing;
pub mod qr;
pub mod receivables;
pub mod reconciliation;
pub mod refund;
pub mod refund_books;
pub mod resolution;
pub mod rules;
pub mod secret;
pub mod shop;
pub mod text;
pub mod time;

pub use adjustment::{
    decide_adjustment, AdjustmentEffect, AdjustmentReason, AdjustmentRefusal, AdjustmentRequest,
    BalanceAdjustment, SignedAmount,
};
pub use books::{
    check_books, release_payout, reserve_payout, settle_payout, BooksError, DayTotals,
    PayoutEffect, PayoutSnapshot,
};
pub use branding::{Branding, ShopLink};
pub use collection::{CollectionEvent, CollectionEventKind, Payer, Provider, ProviderRef};
pub use controls::{CollectionCapExceeded, CollectionControls};
pub use execution::{
    AttemptAction, AttemptOutcome, LedgerEntry, LedgerKind, Notice, NoticeKind, PayoutAttempt,
};
pub use ids::{
    AdjustmentId, DeviceId, IdError, IdempotencyKey, OperatorId, OrderId, OutOrderNo, PayoutId,
    QrId, RefundId, ShopId,
};
pub use instalment::{DeductionStatus, InstalmentError, InstalmentPlan};
pub use kpis::{BusinessMonth, DayActivity, KpiInputs, Kpis, OverduePosition};
pub use money::{Amount, AmountError, Money};
pub use order::{Order, OrderStatus};
pub use order_listing::{DateRange, OrderFilter, RangeError};
pub use payee::{PayeeAction, PayerAccount, PayerAccountKind, PayoutChannels};
pub use payment::{Anomaly, AnomalyKind, CollectionFacts, Decision, Effect};
pub use payout::{Payout, PayoutReason, PayoutStatus};
pub use plan_terms::{FeeRate, FeeRateError, PlanPeriods, UnsupportedPeriods};
pub use processing::{ProcessingRate, ProcessingRateError, ProcessingRates};
pub use qr::{QrCode, QrIssue, QrIssueError, QrKind, QrRefusal, QrState, QrStatus};
pub use receivables::{GraceDays, OrderReceivable, PeriodStatus, ShopReceivables};
pub use reconciliation::{ReconciliationSummary, Tally};
pub use refund::{Refund, RefundReason, RefundRefusal, RefundRequest, RefundStatus};
pub use refund_books::{fail_refund, reserve_refund, succeed_refund, RefundEffect, RefundSnapshot};
pub use resolution::{
    Finding, Resolution, ResolutionChange, ResolutionRequest, ResolutionStatus, RowId,
};
pub use rules::{
    evaluate_payout, OperatorStanding, PayoutFacts, PayoutHeadroom, PayoutRefusal, PayoutRequest,
};
pub use shop::{
    Device, FeePayer, InstalmentConfig, PayoutQuota, Principal, QuotaError, Role, SealedSecret,
    Secret, Shop, ShopSetup,
};
pub use text::{BoundedText, PayoutNote, QrDescription, ShopName, TextError};
pub use time::{BusinessDate, Clock, ShiftedClock, SystemClock, TestClock};
