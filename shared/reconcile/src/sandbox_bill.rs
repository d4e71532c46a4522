//! The sandbox provider's daily bill (`GET /sandbox/bills/{date}` in the
//! local stack): its own records of day D — charges, refunds, instalment
//! deductions and transfers — in our CSV statement format.

use std::io::{self, Write};

use qrpay_domain::{BusinessDate, Provider};
use qrpay_provider::{SandboxChargeKind, SandboxProvider, SandboxTransferStatus};

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
