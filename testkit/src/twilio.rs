//! A stand-in for Twilio, not Twilio: a local HTTP server that speaks Twilio's REST protocol for
//! sending messages, reading the account and looking up and updating the account's phone
//! numbers, so the SMS sender and the set-up commands can be tested end to end without the
//! network or an account. It checks every request against Twilio's own OpenAPI contract, kept in
//! the repository at `contracts/twilio_api_v2010.json` (path, method, Basic auth, form field and
//! query parameter names, required fields, enumerated values), and answers like Twilio: 201 with
//! a message SID, or Twilio's error bodies when told to fail (21211 invalid number, 21610
//! unsubscribed, 429, 500). It honours `I-Twilio-Idempotency-Token` like Twilio: a repeated token
//! gets the first answer again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "stand-in-auth-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    InvalidNumber,
    Unsubscribed,
    RateLimited,
    ServerError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    pub sid: String,
    /// Where Twilio would post status updates for this message.
    pub status_callback: Option<String>,
    pub to: String,
    pub from: String,
    pub body: String,
    pub idempotency_key: Option<String>,
}

/// What the contract allows in one form body.
struct Contract {
    fields: HashSet<String>,
    required: Vec<String>,
    /// Fields whose values the contract enumerates.
    enums: HashMap<String, Vec<String>>,
}

/// One of the account's phone numbers, as the stand-in keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInNumber {
    pub sid: String,
    pub phone_number: String,
    pub sms_url: Option<String>,
    pub sms_method: String,
}

#[derive(Default)]
struct Recorded {
    sent: Vec<SentSms>,
    violations: Vec<String>,
    failures: VecDeque<Failure>,
    by_token: HashMap<String, Value>,
    attempts: usize,
    /// Requests answered from the idempotency cache (a retry of an accepted message).
    replayed: usize,
    /// How long an accepted message's answer takes (the window in which a sender may crash
    /// after Twilio accepted but before it learned so).
    answer_delay: std::time::Duration,
    /// Up to this much more, at random, per accepted message (answers out of request order).
    answer_jitter: std::time::Duration,
    /// Accepted messages whose answer is still on its way, by recipient.
    in_flight: HashMap<String, usize>,
    /// Requests for a recipient sent while an earlier message to them was not yet answered.
    overlapping: Vec<String>,
    numbers: Vec<StandInNumber>,
    /// Accepted updates of a number (`POST IncomingPhoneNumbers/{Sid}.json`).
    number_updates: usize,
}

struct StandIn {
    contract: Contract,
    number_update: Contract,
    /// Query parameters the contract allows when listing numbers.
    number_list_query: HashSet<String>,
    recorded: Mutex<Recorded>,
}

pub struct TwilioStandIn {
    pub base_url: String,
    state: Arc<StandIn>,
}

fn load_contract_document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/twilio_api_v2010.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the vendored Twilio contract")).unwrap()
}

/// The form body the contract describes for `POST path`.
fn form_contract(doc: &Value, path: &str) -> Contract {
    let schema = &doc["paths"][path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let properties = schema["properties"].as_object().unwrap_or_else(|| panic!("the contract has a form for POST {path}"));
    let fields = properties.keys().cloned().collect();
    let enums = properties
        .iter()
        .filter_map(|(name, p)| {
            let values = p["enum"].as_array()?.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
            Some((name.clone(), values))
        })
        .collect();
    let required =
        schema["required"].as_array().map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    Contract { fields, required, enums }
}

/// The query parameters the contract describes for `GET path`.
fn query_contract(doc: &Value, path: &str) -> HashSet<String> {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("the contract has parameters for GET {path}"))
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// Form fields the contract does not have, required ones that are missing, and values outside
/// an enumeration.
fn form_problems(contract: &Contract, form: &[(String, String)]) -> Vec<String> {
    let names: HashSet<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    let mut problems = Vec::new();
    for name in &names {
        if !contract.fields.contains(*name) {
            problems.push(format!("field {name} is not in the contract"));
        }
    }
    for name in &contract.required {
        if !names.contains(name.as_str()) {
            problems.push(format!("required field {name} is missing"));
        }
    }
    for (name, value) in form {
        if let Some(allowed) = contract.enums.get(name)
            && !allowed.contains(value)
        {
            problems.push(format!("{name}={value} is not one of {allowed:?}"));
        }
    }
    problems
}

impl TwilioStandIn {
    pub async fn start() -> Self {
        let doc = load_contract_document();
        let state = Arc::new(StandIn {
            contract: form_contract(&doc, "/2010-04-01/Accounts/{AccountSid}/Messages.json"),
            number_update: form_contract(&doc, "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"),
            number_list_query: query_contract(&doc, "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"),
            recorded: Mutex::new(Recorded::default()),
        });
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message))
            .route("/2010-04-01/Accounts/{account_json}", get(fetch_account))
            .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json", get(list_numbers))
            .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{number_json}", post(update_number))
            .fallback(|| async {
                (StatusCode::NOT_FOUND, Json(json!({ "code": 20404, "message": "The requested resource was not found" })))
            })
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, state }
    }

    /// The next request (not answered from the idempotency cache) fails this way.
    pub fn fail_next(&self, failure: Failure) {
        self.state.recorded.lock().unwrap().failures.push_back(failure);
    }

    /// Messages accepted (201), in order.
    pub fn sent(&self) -> Vec<SentSms> {
        self.state.recorded.lock().unwrap().sent.clone()
    }

    /// Requests that broke the contract; a test asserts this stays empty.
    pub fn violations(&self) -> Vec<String> {
        self.state.recorded.lock().unwrap().violations.clone()
    }

    /// Accepted messages are answered only after `delay` (0 by default).
    pub fn answer_after(&self, delay: std::time::Duration) {
        self.state.recorded.lock().unwrap().answer_delay = delay;
    }

    /// Accepted messages wait a further random delay of up to `jitter` each, so answers come
    /// back in another order than the requests went out.
    pub fn answer_jitter(&self, jitter: std::time::Duration) {
        self.state.recorded.lock().unwrap().answer_jitter = jitter;
    }

    /// Requests to a recipient made while an earlier message to them was still unanswered (a
    /// sender that keeps each phone's order sends the next text only after the answer).
    pub fn overlapping_sends(&self) -> Vec<String> {
        self.state.recorded.lock().unwrap().overlapping.clone()
    }

    /// Requests answered from the idempotency cache: retries of messages already accepted.
    pub fn replayed(&self) -> usize {
        self.state.recorded.lock().unwrap().replayed
    }

    /// Every request that reached the create endpoint, including refused ones.
    pub fn attempts(&self) -> usize {
        self.state.recorded.lock().unwrap().attempts
    }

    /// Gives the account the number `phone` (E.164), posting its texts nowhere yet; returns its
    /// SID.
    pub fn add_number(&self, phone: &str) -> String {
        let sid = format!("PN{}", uuid::Uuid::new_v4().simple());
        let number = StandInNumber { sid: sid.clone(), phone_number: phone.to_owned(), sms_url: None, sms_method: "POST".into() };
        self.state.recorded.lock().unwrap().numbers.push(number);
        sid
    }

    /// The account's number `phone`, as it is now.
    pub fn number(&self, phone: &str) -> Option<StandInNumber> {
        self.state.recorded.lock().unwrap().numbers.iter().find(|n| n.phone_number == phone).cloned()
    }

    /// Updates of numbers accepted so far.
    pub fn number_updates(&self) -> usize {
        self.state.recorded.lock().unwrap().number_updates
    }
}

fn number_json(number: &StandInNumber) -> Value {
    json!({
        "sid": number.sid, "account_sid": ACCOUNT_SID, "phone_number": number.phone_number,
        "friendly_name": number.phone_number, "sms_url": number.sms_url, "sms_method": number.sms_method,
        "capabilities": { "sms": true, "mms": false, "voice": true, "fax": false }, "status": "in-use",
        "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{}.json", number.sid),
    })
}

/// Twilio's refusal unless the request has Basic auth with the account's SID and token and its
/// path names that account.
fn unauthorized(recorded: &mut Recorded, headers: &HeaderMap, account: &str) -> Option<Response> {
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")));
    if headers.get("authorization").and_then(|h| h.to_str().ok()) != Some(expected.as_str()) {
        recorded.violations.push("missing or wrong Basic auth".into());
        return Some(error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
    }
    if account != ACCOUNT_SID {
        let v = format!("path account {account} is not the authenticated one");
        recorded.violations.push(v.clone());
        return Some(error(StatusCode::NOT_FOUND, 20404, &v));
    }
    None
}

async fn fetch_account(State(state): State<Arc<StandIn>>, Path(account_json): Path<String>, headers: HeaderMap) -> Response {
    let mut recorded = state.recorded.lock().unwrap();
    let Some(account) = account_json.strip_suffix(".json") else {
        return error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    };
    if let Some(refused) = unauthorized(&mut recorded, &headers, account) {
        return refused;
    }
    Json(json!({
        "sid": ACCOUNT_SID, "friendly_name": "Switchboard test account (stand-in)", "status": "active", "type": "Full",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}.json"),
    }))
    .into_response()
}

async fn list_numbers(
    State(state): State<Arc<StandIn>>,
    Path(account): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let mut recorded = state.recorded.lock().unwrap();
    if let Some(refused) = unauthorized(&mut recorded, &headers, &account) {
        return refused;
    }
    let unknown: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).filter(|k| !state.number_list_query.contains(*k)).collect();
    if !unknown.is_empty() {
        let v = format!("query parameters {unknown:?} are not in the contract");
        recorded.violations.push(v.clone());
        return error(StatusCode::BAD_REQUEST, 21000, &v);
    }
    let wanted = query.iter().find(|(k, _)| k == "PhoneNumber").map(|(_, v)| v.as_str());
    let numbers: Vec<Value> = recorded.numbers.iter().filter(|n| wanted.is_none_or(|w| n.phone_number == w)).map(number_json).collect();
    let uri = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json");
    Json(json!({
        "incoming_phone_numbers": numbers, "start": 0, "end": numbers.len().saturating_sub(1), "page": 0, "page_size": 50,
        "first_page_uri": uri, "next_page_uri": null, "previous_page_uri": null, "uri": uri,
    }))
    .into_response()
}

async fn update_number(
    State(state): State<Arc<StandIn>>,
    Path((account, number_json_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut recorded = state.recorded.lock().unwrap();
    if let Some(refused) = unauthorized(&mut recorded, &headers, &account) {
        return refused;
    }
    if headers.get("content-type").and_then(|h| h.to_str().ok()).is_none_or(|c| !c.starts_with("application/x-www-form-urlencoded")) {
        recorded.violations.push("the body is not application/x-www-form-urlencoded".into());
        return error(StatusCode::BAD_REQUEST, 20001, "the body is not application/x-www-form-urlencoded");
    }
    let form = url_decode(&body);
    let mut problems = form_problems(&state.number_update, &form);
    for (name, value) in &form {
        if name.ends_with("Url") && !(value.starts_with("https://") || value.starts_with("http://")) {
            problems.push(format!("{name}={value} is not a URI"));
        }
    }
    if !problems.is_empty() {
        let v = problems.join("; ");
        recorded.violations.push(v.clone());
        return error(StatusCode::BAD_REQUEST, 21000, &v);
    }
    let sid = number_json_name.strip_suffix(".json").unwrap_or(&number_json_name).to_owned();
    let Some(index) = recorded.numbers.iter().position(|n| n.sid == sid) else {
        return error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    };
    for (name, value) in form {
        match name.as_str() {
            "SmsUrl" => recorded.numbers[index].sms_url = Some(value),
            "SmsMethod" => recorded.numbers[index].sms_method = value,
            _ => {}
        }
    }
    recorded.number_updates += 1;
    Json(number_json(&recorded.numbers[index])).into_response()
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16() })))
        .into_response()
}

async fn create_message(State(state): State<Arc<StandIn>>, Path(account): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (response, delay, accepted_to) = answer(&state, &account, &headers, &body);
    if let Some(to) = &accepted_to {
        let mut recorded = state.recorded.lock().unwrap();
        let pending = recorded.in_flight.entry(to.clone()).or_default();
        *pending += 1;
        if *pending > 1 {
            recorded.overlapping.push(format!("a message to {to} was sent before the one before it was answered"));
        }
    }
    tokio::time::sleep(delay).await;
    if let Some(to) = accepted_to
        && let Some(pending) = state.recorded.lock().unwrap().in_flight.get_mut(&to)
    {
        *pending -= 1;
    }
    response
}

/// What Twilio answers, after how long (only accepted messages wait), and for an accepted
/// message its recipient.
fn answer(state: &StandIn, account: &str, headers: &HeaderMap, body: &Bytes) -> (Response, std::time::Duration, Option<String>) {
    let now = std::time::Duration::ZERO;
    let mut recorded = state.recorded.lock().unwrap();
    recorded.attempts += 1;
    if let Some(refused) = unauthorized(&mut recorded, headers, account) {
        return (refused, now, None);
    }
    let mut violation = |v: String| {
        recorded.violations.push(v.clone());
        v
    };
    if headers.get("content-type").and_then(|h| h.to_str().ok()).is_none_or(|c| !c.starts_with("application/x-www-form-urlencoded")) {
        let v = violation("the body is not application/x-www-form-urlencoded".into());
        drop(recorded);
        return (error(StatusCode::BAD_REQUEST, 20001, &v), now, None);
    }
    let form: Vec<(String, String)> = url_decode(body);
    let names: HashSet<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    let mut problems = form_problems(&state.contract, &form);
    // The contract's descriptions: a sender and some content are required.
    if !names.contains("From") && !names.contains("MessagingServiceSid") {
        problems.push("neither From nor MessagingServiceSid".into());
    }
    if !names.contains("Body") && !names.contains("MediaUrl") && !names.contains("ContentSid") {
        problems.push("neither Body, MediaUrl nor ContentSid".into());
    }
    if !problems.is_empty() {
        let v = violation(problems.join("; "));
        drop(recorded);
        return (error(StatusCode::BAD_REQUEST, 21000, &v), now, None);
    }
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let token = headers.get("i-twilio-idempotency-token").and_then(|h| h.to_str().ok()).map(str::to_owned);
    if let Some(previous) = token.as_ref().and_then(|t| recorded.by_token.get(t)).cloned() {
        recorded.replayed += 1;
        return ((StatusCode::CREATED, Json(previous)).into_response(), now, Some(field("To")));
    }
    if let Some(failure) = recorded.failures.pop_front() {
        drop(recorded);
        let refusal = match failure {
            Failure::InvalidNumber => error(StatusCode::BAD_REQUEST, 21211, "The 'To' number is not a valid phone number."),
            Failure::Unsubscribed => error(StatusCode::BAD_REQUEST, 21610, "Attempt to send to unsubscribed recipient"),
            Failure::RateLimited => error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
            Failure::ServerError => error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error"),
        };
        return (refusal, now, None);
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let answer = json!({
        "sid": sid, "account_sid": ACCOUNT_SID, "to": field("To"), "from": field("From"), "body": field("Body"),
        "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
    });
    let callback = form.iter().find(|(k, _)| k == "StatusCallback").map(|(_, v)| v.clone());
    recorded.sent.push(SentSms {
        sid: sid.clone(),
        status_callback: callback,
        to: field("To"),
        from: field("From"),
        body: field("Body"),
        idempotency_key: token.clone(),
    });
    if let Some(token) = token {
        recorded.by_token.insert(token, answer.clone());
    }
    let jitter = recorded.answer_jitter.mul_f64(rand::random::<f64>());
    ((StatusCode::CREATED, Json(answer)).into_response(), recorded.answer_delay + jitter, Some(field("To")))
}

fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8(out).expect("UTF-8 form")
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}
