//! The local stack's building blocks (issue 6, in progress). In AWS, API
//! Gateway checks the caller's JWT and hands the Lambda an HTTP API (v2)
//! event with the claims in its request context; locally, [`jwt`] checks
//! an HS256 development token and [`gateway`] builds that same event, so a
//! local request runs through exactly the handler code the Lambdas run.

pub mod gateway;
pub mod jwt;
