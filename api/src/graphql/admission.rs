//! What every request must pass before any resolver runs, over HTTP and WebSocket alike: no NUL
//! characters in its text, a cost within [`ApiSettings::max_complexity`](crate::ApiSettings),
//! introspection only as the settings allow, and its mutations paid from the lookup budget up
//! front.
//!
//! async-graphql's own complexity limit counts each field once: it does not see that
//! `events(first: 500)` answers 500 times what `events(first: 1)` does, and it does not count
//! `__typename` at all, so a request of 100,000 aliased `__typename`s passed. The cost here is
//! computed on the parsed document (fragments included, each costed once), so a refusal
//! happens before any work, and a mutation request over budget changes nothing at all rather
//! than its first 250 fields.

use std::collections::HashMap;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{Positioned, Request};
use async_graphql_value::{ConstValue, Name, Value, Variables};
use serde::Deserialize;

use super::{DEFAULT_PAGE, MAX_PAGE, QueryBudget};
use crate::App;
use crate::error::ApiError;

/// Who may ask the schema about itself (`__schema`, `__type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Introspection {
    /// Anyone, signed in or not (GraphiQL works before signing in).
    #[default]
    Everyone,
    /// Only requests with a valid bearer token.
    SignedIn,
    /// Nobody (the schema is public in `schema.graphql` anyway).
    Off,
}

/// Checks `request` (parsing it once; execution reuses the parse) and, for a mutation, takes
/// one lookup per mutation field from its budget. `signed_in`: whether a viewer is attached.
pub(crate) fn admit(app: &App, request: &mut Request, signed_in: bool, budget: Option<&QueryBudget>) -> Result<(), ApiError> {
    let settings = &app.settings;
    let variables = request.variables.clone();
    let operation_name = request.operation_name.clone();
    let document = match request.parsed_query() {
        Ok(document) => document,
        // Syntax errors are left to the executor, which reports them with their position.
        Err(_) => return Ok(()),
    };
    if variables.values().any(const_has_nul) || document_has_nul(document) {
        return Err(ApiError::bad_input("text may not contain NUL characters (\\u0000); remove them from the query and its variables"));
    }
    let Some(operation) = chosen_operation(document, operation_name.as_deref()) else {
        return Ok(()); // ambiguous or unknown operation name: the executor says which
    };
    let mut costing = Costing { document, variables: &variables, operation, fragments: HashMap::new(), visiting: Vec::new() };
    let cost = costing.selection_set(&operation.selection_set.node);

    if cost.schema_fields > 0 || cost.type_fields > 0 {
        match settings.introspection {
            Introspection::Everyone => {}
            Introspection::SignedIn if signed_in => {}
            Introspection::SignedIn => {
                return Err(ApiError::forbidden("introspection (`__schema`, `__type`) needs a signed-in request on this server"));
            }
            Introspection::Off => return Err(ApiError::forbidden("introspection (`__schema`, `__type`) is off on this server")),
        }
        if cost.schema_fields > 1 {
            return Err(ApiError::bad_input("one `__schema` per request, please"));
        }
    }
    if cost.total > settings.max_complexity as u64 {
        return Err(ApiError::bad_input(format!(
            "this request costs {} (each field counts once per item of the pages around it; `__typename` too), \
             above the limit of {}; ask for smaller pages or fewer fields",
            cost.total, settings.max_complexity
        )));
    }
    if operation.ty == OperationType::Mutation
        && let Some(budget) = budget
    {
        let fields = cost.root_fields as i64;
        let left = budget.0.fetch_sub(fields, std::sync::atomic::Ordering::Relaxed);
        if left < fields {
            return Err(ApiError::bad_input(format!(
                "this request has {fields} mutations; at most {} lookups (each mutation is one) are allowed per request",
                settings.max_lookups
            )));
        }
    }
    Ok(())
}

fn chosen_operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    total: u64,
    /// `__schema` fields (a full schema each: one per request is plenty).
    schema_fields: u64,
    type_fields: u64,
    /// Fields at this level (for the operation: its mutations).
    root_fields: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.total = self.total.saturating_add(other.total);
        self.schema_fields = self.schema_fields.saturating_add(other.schema_fields);
        self.type_fields = self.type_fields.saturating_add(other.type_fields);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
    }
}

struct Costing<'d> {
    document: &'d ExecutableDocument,
    variables: &'d Variables,
    operation: &'d OperationDefinition,
    /// Each fragment is costed once, however often it is spread (spreads inside spreads would
    /// otherwise take exponential time).
    fragments: HashMap<&'d Name, Cost>,
    /// Fragments being costed: a cycle is the validator's to refuse; here it costs nothing more.
    visiting: Vec<&'d Name>,
}

impl<'d> Costing<'d> {
    fn selection_set(&mut self, set: &'d SelectionSet) -> Cost {
        let mut cost = Cost::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let children = self.selection_set(&field.selection_set.node);
                    let items = self.page_items(field);
                    let mut here = Cost {
                        total: children.total.saturating_mul(items).saturating_add(1),
                        schema_fields: children.schema_fields,
                        type_fields: children.type_fields,
                        root_fields: 1,
                    };
                    match field.name.node.as_str() {
                        "__schema" => here.schema_fields += 1,
                        "__type" => here.type_fields += 1,
                        _ => {}
                    }
                    cost.add(here);
                }
                Selection::InlineFragment(fragment) => cost.add(self.selection_set(&fragment.node.selection_set.node)),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if let Some(known) = self.fragments.get(name) {
                        cost.add(*known);
                    } else if let Some(definition) = self.document.fragments.get(name)
                        && !self.visiting.contains(&name)
                    {
                        self.visiting.push(name);
                        let fragment = self.selection_set(&definition.node.selection_set.node);
                        self.visiting.pop();
                        self.fragments.insert(name, fragment);
                        cost.add(fragment);
                    }
                }
            }
        }
        cost
    }

    /// How many items a field answers with, as far as the request says: its `first` (capped at
    /// the largest page; larger ones are refused by the field), the default page for a
    /// connection without one, otherwise one.
    fn page_items(&self, field: &async_graphql::parser::types::Field) -> u64 {
        let first = field.arguments.iter().find(|(name, _)| name.node == "first").map(|(_, value)| &value.node);
        let asked = match first {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::Variable(name)) => match self.variable(name) {
                Some(ConstValue::Number(n)) => n.as_i64(),
                _ => None,
            },
            _ => None,
        };
        match asked {
            Some(n) => n.clamp(1, MAX_PAGE as i64) as u64,
            None if is_connection(field) => DEFAULT_PAGE as u64,
            None => 1,
        }
    }

    fn variable(&self, name: &Name) -> Option<ConstValue> {
        self.variables.get(name).cloned().or_else(|| {
            self.operation
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref().map(|v| v.node.clone()))
        })
    }
}

/// A Relay connection (a page), recognised by what is asked of it.
fn is_connection(field: &async_graphql::parser::types::Field) -> bool {
    field.selection_set.node.items.iter().any(|item| match &item.node {
        Selection::Field(f) => matches!(f.node.name.node.as_str(), "edges" | "nodes"),
        _ => false,
    })
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || const_has_nul(v)),
        _ => false,
    }
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(value_has_nul),
        Value::Object(fields) => fields.values().any(value_has_nul),
        _ => false,
    }
}

/// NUL in any argument literal or variable default of the document.
fn document_has_nul(document: &ExecutableDocument) -> bool {
    fn set_has_nul(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                field.node.arguments.iter().any(|(_, v)| value_has_nul(&v.node))
                    || field.node.directives.iter().any(|d| d.node.arguments.iter().any(|(_, v)| value_has_nul(&v.node)))
                    || set_has_nul(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => set_has_nul(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    let defaults = |op: &Positioned<OperationDefinition>| {
        op.node.variable_definitions.iter().any(|d| d.node.default_value.as_ref().is_some_and(|v| const_has_nul(&v.node)))
    };
    document.operations.iter().any(|(_, op)| defaults(op) || set_has_nul(&op.node.selection_set.node))
        || document.fragments.values().any(|f| set_has_nul(&f.node.selection_set.node))
}
