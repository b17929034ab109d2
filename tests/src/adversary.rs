//! A dishonest participant for the adversary tests: its own keys, its own peer server that answers
//! honest nodes as it pleases, hand-made peer messages, and every fully signed state it ever saw.
//!
//! Mallory speaks the peer protocol well enough to take part in a channel (she signs version 0
//! and the updates she chooses to sign), and badly on purpose when a test wants it: she proposes
//! states that break the payment rules, final states that skip versions, withholds the fully
//! signed states of her own proposals, refuses or ignores honest proposals, sends rejections
//! naming other states. She never needs an `avocado node` of her own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use alloy_signer_local::PrivateKeySigner;
use avocado_client::message::{open, Envelope, Message, SignedJson, StateJson, Terms, SIGNATURE_HEADER};
use avocado_client::node::Reply;
use avocado_client::signed::SignedState;
use avocado_codec::{signer, ChannelParams, Domain, Signature, State};
use axum::{body::Bytes as Body, extract::State as AxState, http::HeaderMap, response::IntoResponse, Json, Router};

/// How Mallory's peer server answers a proposal from an honest node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Signs it at once.
    Sign,
    /// Refuses it (HTTP 409).
    Refuse,
    /// Says it waits for a decision, and never decides (a withheld signature).
    Ignore,
}

/// What Mallory holds.
#[derive(Default)]
struct Books {
    /// `(channel, version)` → a fully signed state she saw or made.
    full: BTreeMap<(B256, u64), SignedState>,
    /// Channel → its terms (from proposals she saw).
    terms: BTreeMap<B256, Terms>,
    /// Honest proposals she was asked to sign, with how she answered.
    asked: Vec<(State, Answer)>,
}

/// A dishonest participant (one key or several colluding ones).
pub struct Mallory {
    /// Her participant keys.
    pub keys: Vec<PrivateKeySigner>,
    /// The judge's domain.
    pub domain: Domain,
    /// Her peer servers' URLs, one per key.
    pub urls: Vec<String>,
    answer: Mutex<Answer>,
    books: Mutex<Books>,
    http: reqwest::Client,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Mallory {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

/// A peer's refusal: HTTP status and message.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl Mallory {
    /// Starts one peer server per key on loopback.
    pub async fn start(keys: Vec<PrivateKeySigner>, domain: Domain) -> Arc<Self> {
        let mut listeners = Vec::new();
        let mut urls = Vec::new();
        for _ in &keys {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}", l.local_addr().unwrap()));
            listeners.push(l);
        }
        let mut m = Self {
            keys,
            domain,
            urls,
            answer: Mutex::new(Answer::Sign),
            books: Mutex::default(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
            servers: Vec::new(),
        };
        let n = m.keys.len();
        let this = Arc::new_cyclic(|weak: &std::sync::Weak<Mallory>| {
            for (i, l) in listeners.into_iter().enumerate() {
                let app =
                    Router::new().route("/peer/v1/message", axum::routing::post(receive)).with_state((weak.clone(), i));
                m.servers.push(tokio::spawn(async move {
                    let _ = axum::serve(l, app).await;
                }));
            }
            m
        });
        assert_eq!(this.servers.len(), n);
        this
    }

    /// Her addresses.
    pub fn addresses(&self) -> Vec<Address> {
        self.keys.iter().map(|k| k.address()).collect()
    }

    /// How her servers answer honest proposals from now on.
    pub fn answer_with(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }

    /// Keeps a fully signed state.
    pub fn keep(&self, s: &SignedState) {
        self.books.lock().unwrap().full.insert((s.state.channelId, s.state.version), s.clone());
    }

    /// Every fully signed state she holds of `channel`, oldest first.
    pub fn states(&self, channel: B256) -> Vec<SignedState> {
        self.books.lock().unwrap().full.range((channel, 0)..=(channel, u64::MAX)).map(|(_, s)| s.clone()).collect()
    }

    /// The latest fully signed state she holds of `channel`.
    pub fn latest(&self, channel: B256) -> Option<SignedState> {
        self.states(channel).pop()
    }

    /// Honest proposals she was asked to sign, with her answers.
    pub fn asked(&self) -> Vec<(State, Answer)> {
        self.books.lock().unwrap().asked.clone()
    }

    /// Her signature (key `k`) of `state`.
    pub fn sign(&self, k: usize, state: &State) -> Signature {
        signer::sign(self.keys[k].credential(), &self.domain.state_digest(state))
    }

    /// Sends `message` as key `k` to the peer at `url`.
    pub async fn send(&self, k: usize, url: &str, message: &Message) -> Result<Reply, Refusal> {
        let envelope = Envelope::seal(self.keys[k].credential(), &self.domain, message);
        let resp = self
            .http
            .post(format!("{url}/peer/v1/message"))
            .header(SIGNATURE_HEADER, &envelope.signature)
            .header("content-type", "application/json")
            .body(envelope.body)
            .send()
            .await
            .map_err(|e| Refusal { status: 0, message: e.to_string() })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status == 200 {
            return serde_json::from_str(&text).map_err(|e| Refusal { status, message: format!("{e}: {text}") });
        }
        Err(Refusal { status, message: text })
    }

    /// Proposes `state` on `base` to the honest participants (`honest`: index in the channel and
    /// peer URL), signing for every key of hers. Returns the fully signed state when every honest
    /// participant signed (kept, not delivered), or the first refusal.
    pub async fn propose(
        &self,
        terms: &Terms,
        base: &SignedState,
        state: State,
        honest: &[(usize, String)],
    ) -> Result<SignedState, Refusal> {
        let mut sigs: Vec<Option<Signature>> = vec![None; terms.participants.len()];
        for (k, key) in self.keys.iter().enumerate() {
            let i = terms.participants.iter().position(|p| *p == key.address()).expect("Mallory is a participant");
            sigs[i] = Some(self.sign(k, &state));
        }
        let message = Message::ProposeUpdate { state: (&state).into(), base: base.into() };
        for (i, url) in honest {
            match self.send(0, url, &message).await? {
                Reply::Signed { signature } => {
                    sigs[*i] =
                        Some(Signature::parse(&signature).map_err(|e| Refusal { status: 0, message: e.to_string() })?)
                }
                other => return Err(Refusal { status: 200, message: format!("answered {other:?}") }),
            }
        }
        let Some(signatures) = sigs.into_iter().collect::<Option<Vec<_>>>() else {
            return Err(Refusal { status: 0, message: "a participant was not asked (offline)".into() });
        };
        let full = SignedState { state, signatures };
        self.keep(&full);
        Ok(full)
    }

    /// Delivers a fully signed state to the honest participants.
    pub async fn deliver(&self, full: &SignedState, honest: &[(usize, String)]) {
        for (_, url) in honest {
            let _ = self.send(0, url, &Message::Signed { signed: full.into() }).await;
        }
    }

    /// The terms of a channel she was asked to join.
    pub fn terms(&self, channel: B256) -> Option<Terms> {
        self.books.lock().unwrap().terms.get(&channel).cloned()
    }
}

fn refuse(status: u16, message: &str) -> axum::response::Response {
    let code = axum::http::StatusCode::from_u16(status).unwrap();
    (code, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn receive(
    AxState((mallory, k)): AxState<(std::sync::Weak<Mallory>, usize)>,
    headers: HeaderMap,
    body: Body,
) -> axum::response::Response {
    let Some(m) = mallory.upgrade() else { return refuse(503, "gone") };
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let Ok((_, message)) = open(&m.domain, &body, sig) else { return refuse(401, "bad signature") };
    let answer = *m.answer.lock().unwrap();
    let reply = match message {
        Message::ProposeChannel { terms, data, .. } => {
            let params: ChannelParams = (&terms).into();
            let id = m.domain.channel_id(&params);
            m.books.lock().unwrap().terms.insert(id, terms);
            let state = State { channelId: id, version: 0, data, isFinal: false };
            Reply::Signed { signature: Bytes::from(m.sign(k, &state).to_bytes().to_vec()) }
        }
        Message::ProposeUpdate { state, base } => {
            if let Ok(b) = SignedState::try_from(&base) {
                m.keep(&b);
            }
            let state: State = (&state).into();
            m.books.lock().unwrap().asked.push((state.clone(), answer));
            match answer {
                Answer::Sign => Reply::Signed { signature: Bytes::from(m.sign(k, &state).to_bytes().to_vec()) },
                Answer::Refuse => return refuse(409, "Mallory refuses"),
                Answer::Ignore => Reply::Pending,
            }
        }
        Message::Signed { signed } => {
            if let Ok(s) = SignedState::try_from(&signed) {
                m.keep(&s);
            }
            Reply::Ok
        }
        Message::Sync { channel_id } => match m.latest(channel_id) {
            Some(s) => Reply::Latest { signed: SignedJson::from(&s) },
            None => return refuse(404, "nothing"),
        },
        _ => Reply::Ok,
    };
    Json(reply).into_response()
}

/// `StateJson` of a state (for hand-made messages).
pub fn json_of(s: &State) -> StateJson {
    s.into()
}
