//! Collection code payloads and images (SPEC §3).
//!
//! - [`emv`]: the EMV merchant-presented payload that bank and wallet
//!   scanners expect (tag-length-value, CRC-16/CCITT-FALSE).
//! - [`token`]: the signed token in the payment URL, so a code cannot be
//!   forged or pointed at another shop.
//! - [`link`]: the signed receipt and payout-claim links, each with its own
//!   derived key so no token stands in for another.
//! - [`render`]: SVG and PNG images with a quiet zone and high contrast.
//!
//! Plain `&str` and integers in, `Result` out: no other qrpay crate, no
//! floats (amounts arrive as formatted text), no panics on any input.

pub mod emv;
pub mod link;
pub mod render;
pub mod token;

pub use emv::{crc16_ccitt_false, EmvError, MerchantPayload};
pub use render::RenderError;
pub use token::{payment_url, TokenClaims, TokenError};
