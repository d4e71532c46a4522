//! The sandbox provider's daily bill (`GET /sandbox/bills/{date}` in the
//! local stack): its own records of day D — charges, refunds, instalment
//! deductions and transfers — in our CSV statement format; and what its
//! bank then pays each shop for the day (the settlement receipts).

use std::collections::BTreeMap;
use std::io::{self, Write};

use qrpay_domain::{BusinessDate, Provider};
use qrpay_provider::{SandboxChargeKind, SandboxProvider, SandboxTransferStatus};

use crate::bank::{batch_id, BankReceipt, ReceiptWriter};
use crate::model::{MovementKind, ProviderStatus, StatementRow};
use crate::statement::{Format, StatementWriter};

/// The sandbox's movements of `date` as statement rows, oldest first.
pub fn rows(sandbox: &SandboxProvider, date: BusinessDate) -> Vec<StatementRow> {
    let mut rows: Vec<StatementRow> = sandbox
        .charges()
        .into_iter()
        .filter(|c| BusinessDate::of(c.at) == date)
        .map(|c| StatementRow {
            line: 0,
            provider: Provider::Sandbox,
            shop_id: c.shop_id.to_string(),
            kind: match c.kind {
                SandboxChargeKind::Payment => MovementKind::Payment,
                SandboxChargeKind::Refund => MovementKind::Refund,
                SandboxChargeKind::Deduction => MovementKind::Deduction,
            },
            reference: c.order_id.to_string(),
            provider_ref: c.provider_ref,
            period: c.period,
            amount_fen: c.amount.fen(),
            fee_fen: c.fee.fen(),
            status: if c.succeeded {
                ProviderStatus::Success
            } else {
                ProviderStatus::Failed
            },
            occurred_at: c.at,
            payer: c.payer_masked,
        })
        .collect();
    rows.extend(
        sandbox
            .transfers()
            .into_iter()
            .filter(|t| BusinessDate::of(t.created_at) == date)
            .map(|t| StatementRow {
                line: 0,
                provider: Provider::Sandbox,
                shop_id: t.payee.shop_id.to_string(),
                kind: MovementKind::Payout,
                reference: t.out_bill_no.to_string(),
                provider_ref: t.provider_ref,
                period: None,
                amount_fen: t.amount.fen(),
                fee_fen: 0,
                status: match t.status {
                    SandboxTransferStatus::Succeeded => ProviderStatus::Success,
                    SandboxTransferStatus::Failed { .. } => ProviderStatus::Failed,
                },
                occurred_at: t.created_at,
                payer: None,
            }),
    );
    rows.sort_by_key(|r| r.occurred_at);
    rows
}

/// Writes the sandbox's bill of `date` to `out`.
pub fn write<W: Write>(sandbox: &SandboxProvider, date: BusinessDate, out: W) -> io::Result<W> {
    let mut writer = StatementWriter::new(Format::Qrpay, Provider::Sandbox, date, out)?;
    for row in rows(sandbox, date) {
        writer.row(&row)?;
    }
    writer.finish()
}

/// The bank receipts that settle the sandbox's day `date`: one per shop
/// with a movement, the net of its successful payments less fees, refunds
/// and payouts (deductions are the provider's money, not the shop's),
/// credited the next day.
pub fn receipts(sandbox: &SandboxProvider, date: BusinessDate) -> Vec<BankReceipt> {
    let mut net: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows(sandbox, date) {
        let entry = net.entry(row.shop_id.clone()).or_default();
        if row.status != ProviderStatus::Success {
            continue;
        }
        *entry += match row.kind {
            MovementKind::Payment => row.amount_fen - row.fee_fen,
            MovementKind::Refund | MovementKind::Payout => -row.amount_fen,
            MovementKind::Deduction
            | MovementKind::Fee
            | MovementKind::FeeReturned
            | MovementKind::AdjustmentCredit
            | MovementKind::AdjustmentDebit => 0,
        };
    }
    net.into_iter()
        .enumerate()
        .map(|(i, (shop_id, amount_fen))| BankReceipt {
            line: 0,
            receipt_id: format!("SBXBANK-{}-{:04}", date.naive().format("%Y%m%d"), i + 1),
            batch_id: batch_id(Provider::Sandbox, &shop_id, date),
            provider: Provider::Sandbox,
            shop_id,
            amount_fen,
            value_date: date.succ().naive(),
        })
        .collect()
}

/// Writes the receipts of `date` (see [`receipts`]) to `out`.
pub fn write_receipts<W: Write>(
    sandbox: &SandboxProvider,
    date: BusinessDate,
    out: W,
) -> io::Result<W> {
    let mut writer = ReceiptWriter::new(date, out)?;
    for receipt in receipts(sandbox, date) {
        writer.receipt(&receipt)?;
    }
    writer.finish()
}
