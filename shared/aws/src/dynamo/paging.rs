//! Reading many items: one paging helper (a key-condition query followed
//! page by page up to a limit) and one over-fetch page on top of it (one
//! item more than asked says whether another page exists). Every listing of
//! the adapter goes through these two.

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::*;
use super::{names, unavailable, values, DynamoStore};
use qrpay_store::{over_fetch, StoreError};

/// One key-condition query of the table or of an index.
pub(super) struct KeyQuery {
    pub index: Option<&'static str>,
    pub condition: &'static str,
    pub names: Vec<&'static str>,
    pub values: Vec<(&'static str, AttributeValue)>,
    /// Sort-key order, or reversed.
    pub forward: bool,
}

impl KeyQuery {
    /// Items of partition `pk` whose sort key starts with `prefix`.
    pub fn prefix(pk: String, prefix: &str, forward: bool) -> KeyQuery {
        KeyQuery {
            index: None,
            condition: "#PK = :pk AND begins_with(#SK, :prefix)",
            names: vec![PK, SK],
            values: vec![(":pk", s(pk)), (":prefix", s(prefix))],
            forward,
        }
    }

    /// Items of GSI2 partition `pk`, strictly past `after` in the order read.
    pub fn gsi2_after(pk: String, after: Option<String>, forward: bool) -> KeyQuery {
        let mut values = vec![(":pk", s(pk))];
        let (condition, names) = match (after, forward) {
            (Some(after), true) => {
                values.push((":after", s(after)));
                ("#GSI2PK = :pk AND #GSI2SK > :after", vec![GSI2PK, GSI2SK])
            }
            (Some(after), false) => {
                values.push((":after", s(after)));
                ("#GSI2PK = :pk AND #GSI2SK < :after", vec![GSI2PK, GSI2SK])
            }
            (None, _) => ("#GSI2PK = :pk", vec![GSI2PK]),
        };
        KeyQuery {
            index: Some(GSI2),
            condition,
            names,
            values,
            forward,
        }
    }
}

impl DynamoStore {
    /// What `query` finds, in its order, at most `limit` items, following
    /// DynamoDB's pages (each asks only for what is still missing). The
    /// table is read consistently; an index cannot be.
    pub(super) async fn query_all(
        &self,
        query: &KeyQuery,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        while items.len() < limit {
            let missing = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            self.trip();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_owned))
                .key_condition_expression(query.condition)
                .set_expression_attribute_names(names(&query.names))
                .set_expression_attribute_values(values(query.values.clone()))
                .scan_index_forward(query.forward)
                .consistent_read(query.index.is_none())
                .limit(missing)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    /// The first `limit` items `query` finds and whether more follow: it
    /// reads one more than asked.
    pub(super) async fn query_page(
        &self,
        query: &KeyQuery,
        limit: usize,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let items = self.query_all(query, limit.saturating_add(1)).await?;
        Ok(over_fetch(items, limit))
    }
}
