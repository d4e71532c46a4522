//! Who is calling. In AWS the API Gateway JWT authorizer has validated the
//! token and put its claims in the request context; locally the local stack
//! does the same. Claims: `sub` (operator), `shop_id`, `role`, and for
//! platform admins `scope` containing [`ADMIN_SCOPE`].

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use qrpay_domain::{OperatorId, Principal, Role, ShopId};

use crate::ApiError;

/// The client's address as API Gateway saw it (never a header the client
/// could set); `None` outside API Gateway.
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

/// The scope an admin token must carry (API.md "Authentication"): `role`
/// is a plain claim that merchant tokens from the same issuer also have, so
/// `role: admin` alone never makes an admin.
pub const ADMIN_SCOPE: &str = "qrpay:admin";

/// The caller, or 401 when the request carries no usable identity.
pub fn principal(req: &Request) -> Result<Principal, ApiError> {
    let jwt = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        }
        _ => None,
    }
    .ok_or_else(|| ApiError::unauthenticated("missing credentials"))?;
    let claims = &jwt.claims;
    let claim = |name: &str| {
        claims
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let invalid = || ApiError::unauthenticated("invalid credentials");
    let operator_id = claim("sub")
        .and_then(|s| OperatorId::parse(s).ok())
        .ok_or_else(invalid)?;
    let role = match claim("role") {
        Some("owner") => Role::Owner,
        Some("staff") => Role::Staff,
        Some("admin") => Role::Admin,
        _ => return Err(invalid()),
    };
    // The authorizer's scopes, or the `scope` claim itself (space-separated).
    let has_admin_scope = jwt.scopes.iter().flatten().any(|s| s == ADMIN_SCOPE)
        || claim("scope").is_some_and(|s| s.split(' ').any(|s| s == ADMIN_SCOPE));
    if role == Role::Admin && !has_admin_scope {
        return Err(ApiError::forbidden(format!(
            "an admin token must carry the {ADMIN_SCOPE} scope"
        )));
    }
    let shop_id = match (role, claim("shop_id")) {
        (Role::Admin, None) => None,
        (_, Some(s)) => Some(ShopId::parse(s).map_err(|_| invalid())?),
        (_, None) => return Err(invalid()),
    };
    Ok(Principal {
        operator_id,
        role,
        shop_id,
    })
}

/// The caller acts for the shop in the path, as its owner or staff; a token
/// for shop A never reads or touches shop B. Returns the validated shop id.
pub fn require_shop(principal: &Principal, path_shop: &str) -> Result<ShopId, ApiError> {
    let own = matches!(principal.role, Role::Owner | Role::Staff)
        && principal
            .shop_id
            .as_ref()
            .is_some_and(|s| s.as_str() == path_shop);
    if !own {
        return Err(ApiError::forbidden("this token may not act for this shop"));
    }
    ShopId::parse(path_shop).map_err(|e| ApiError::invalid("shop_id", e.to_string()))
}

/// As [`require_shop`], and a platform admin may read any shop too (the
/// shop's receivables, API.md "Merchant").
pub fn require_shop_or_admin(principal: &Principal, path_shop: &str) -> Result<ShopId, ApiError> {
    if principal.role == Role::Admin {
        return ShopId::parse(path_shop).map_err(|e| ApiError::invalid("shop_id", e.to_string()));
    }
    require_shop(principal, path_shop)
}

/// The shop's owner, or a platform admin: staff may read what this guards
/// but not change it.
pub fn require_owner_or_admin(principal: &Principal, path_shop: &str) -> Result<ShopId, ApiError> {
    let shop_id = require_shop_or_admin(principal, path_shop)?;
    if principal.role == Role::Staff {
        return Err(ApiError::forbidden(
            "only the shop's owner or a platform admin may do this",
        ));
    }
    Ok(shop_id)
}

pub fn require_role(principal: &Principal, role: Role) -> Result<(), ApiError> {
    if principal.role == role {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            format!("this action needs the {role:?} role").to_lowercase(),
        ))
    }
}
