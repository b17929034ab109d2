//! `avocado channel …`: each subcommand is one app API call to a running node.

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use anyhow::{bail, Context, Result};
use avocado_client::app_client::{AppClient, Proposed};
use avocado_client::node::app::ChannelView;
use avocado_client::node::Event;
use avocado_codec::phase;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::parse_duration;

/// Which node to talk to.
#[derive(Args, Clone, Debug)]
pub(crate) struct NodeRef {
    /// The node's data folder (its node.json and app.token are read).
    #[arg(long, env = "AVOCADO_DATA_DIR", default_value = "avocado-data")]
    data_dir: PathBuf,
    /// The app API URL (instead of --data-dir).
    #[arg(long, env = "AVOCADO_NODE", requires = "token")]
    node: Option<String>,
    /// The app API token (with --node).
    #[arg(long, env = "AVOCADO_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl NodeRef {
    pub(crate) fn client(&self) -> Result<AppClient> {
        match (&self.node, &self.token) {
            (Some(url), Some(token)) => Ok(AppClient::new(url, token)),
            _ => AppClient::from_data_dir(&self.data_dir),
        }
    }
}

/// A channel of a node.
#[derive(Args, Clone, Debug)]
pub(crate) struct ChannelRef {
    #[command(flatten)]
    pub(crate) node: NodeRef,
    /// Channel id.
    pub(crate) id: B256,
}

/// State data given on the command line.
#[derive(Args, Clone, Debug, Default)]
pub(crate) struct DataArgs {
    /// Data as hex.
    #[arg(long, conflicts_with = "text")]
    data: Option<Bytes>,
    /// Data as UTF-8 text.
    #[arg(long)]
    text: Option<String>,
}

impl DataArgs {
    fn bytes(&self) -> Option<Bytes> {
        self.data.clone().or_else(|| self.text.as_ref().map(|t| Bytes::copy_from_slice(t.as_bytes())))
    }
}

#[derive(Subcommand)]
pub(crate) enum ChannelCommand {
    /// Propose a channel to other participants (this node is participant 0).
    Propose {
        #[command(flatten)]
        node: NodeRef,
        /// Another participant and its peer URL: ADDRESS=URL (repeat, in order).
        #[arg(long = "with", value_name = "ADDRESS=URL", required = true)]
        with: Vec<String>,
        /// Dispute window.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        challenge: Duration,
        /// Channel nonce (random by default).
        #[arg(long)]
        nonce: Option<u64>,
        /// Executive contract.
        #[arg(long)]
        executive: Option<Address>,
        #[command(flatten)]
        data: DataArgs,
        /// Do not post `open` on chain once version 0 is signed.
        #[arg(long)]
        no_open: bool,
        /// How long to wait for every signature.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// Accept a channel another participant proposed.
    Accept {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Decline a channel another participant proposed.
    Reject {
        #[command(flatten)]
        at: ChannelRef,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List this node's channels.
    List {
        #[command(flatten)]
        node: NodeRef,
    },
    /// Show a channel and its latest fully signed state.
    Show {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Propose the next state.
    Update {
        #[command(flatten)]
        at: ChannelRef,
        #[command(flatten)]
        data: DataArgs,
        /// Mark the state final (closes the channel once concluded).
        #[arg(long = "final")]
        is_final: bool,
        /// How long to wait for every signature.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// Sign an update another participant proposed.
    AcceptUpdate {
        #[command(flatten)]
        at: ChannelRef,
        /// Version.
        version: u64,
    },
    /// Decline an update another participant proposed.
    RejectUpdate {
        #[command(flatten)]
        at: ChannelRef,
        /// Version.
        version: u64,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Post the latest fully signed state on chain.
    Checkpoint {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Start a dispute with the latest fully signed state (unilateral close).
    Challenge {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Close cooperatively: everyone signs a final state, then it is concluded on chain.
    Close {
        #[command(flatten)]
        at: ChannelRef,
        #[command(flatten)]
        data: DataArgs,
        /// How long to wait for the final state's signatures.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// The judge's status of a channel, read now.
    Status {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Follow a channel's events until it is final, with the time left of any dispute.
    Watch {
        #[command(flatten)]
        at: ChannelRef,
    },
}

/// `--with ADDRESS=URL` values: the other participants and their peer URLs.
pub(crate) fn parse_with(with: &[String]) -> Result<Vec<(Address, String)>> {
    with.iter()
        .map(|w| {
            let (addr, url) = w.split_once('=').with_context(|| format!("--with {w}: expected ADDRESS=URL"))?;
            let addr: Address = addr.parse().with_context(|| format!("--with {w}: {addr} is not an address"))?;
            Ok((addr, url.to_string()))
        })
        .collect()
}

fn phase_name(p: u8) -> &'static str {
    match p {
        phase::NONE => "none",
        phase::OPEN => "open",
        phase::CHALLENGE => "challenge",
        phase::FINAL => "final",
        _ => "unknown",
    }
}

fn show_data(data: &Bytes) -> String {
    match std::str::from_utf8(data) {
        Ok(s) if !s.is_empty() && s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => data.to_string(),
    }
}

fn print_view(v: &ChannelView) {
    let r = &v.record;
    println!("channel {}", r.id);
    println!("  status       {:?} (this node is participant {})", r.status, r.me);
    for (i, (p, url)) in r.terms.participants.iter().zip(&r.peers).enumerate() {
        println!("  participant  {i} {p} {url}");
    }
    println!(
        "  challenge    {} s, nonce {}, executive {}",
        r.terms.challenge_duration, r.terms.nonce, r.terms.executive
    );
    match &v.latest {
        Some(s) => println!(
            "  latest       v{}{} {}",
            s.state.version,
            if s.state.is_final { " (final)" } else { "" },
            show_data(&s.state.data)
        ),
        None => println!("  latest       none fully signed yet"),
    }
    if let Some(inc) = &r.incoming {
        println!(
            "  waiting      participant {}'s proposal v{} {}",
            inc.from,
            inc.state.version,
            show_data(&inc.state.data)
        );
    }
    println!(
        "  on chain     {} at v{}{}",
        phase_name(r.chain.phase),
        r.chain.version,
        if r.chain.finalizes_at > 0 { format!(", final at {}", r.chain.finalizes_at) } else { String::new() }
    );
}

fn print_proposed(p: &Proposed, json: bool) {
    match p {
        Proposed::Signed { raw, signed, channel_id } => {
            if json {
                println!("{raw}");
            } else {
                println!("{channel_id} v{} fully signed {}", signed.state.version, show_data(&signed.state.data));
                if let Some(open) = raw.get("open") {
                    println!("opened on chain: tx {} ({} gas)", open["tx"].as_str().unwrap_or("?"), open["gasUsed"]);
                }
            }
        }
        Proposed::Pending { channel_id, version } => {
            if json {
                println!("{}", json!({ "channelId": channel_id, "status": "pending", "version": version }));
            } else {
                println!("{channel_id} v{version} proposed; waiting for the other participants' decisions");
            }
        }
    }
}

fn print_value(v: &Value, json: bool, text: impl FnOnce(&Value) -> String) {
    if json {
        println!("{v}");
    } else {
        println!("{}", text(v));
    }
}

fn receipt_text(v: &Value) -> String {
    format!(
        "{} v{} mined: tx {} in block {} ({} gas)",
        v["call"].as_str().unwrap_or("call"),
        v["version"],
        v["receipt"]["tx"].as_str().unwrap_or("?"),
        v["receipt"]["block"],
        v["receipt"]["gasUsed"]
    )
}

pub(crate) async fn run(cmd: ChannelCommand, json: bool) -> Result<()> {
    match cmd {
        ChannelCommand::Propose { node, with, challenge, nonce, executive, data, no_open, wait } => {
            let client = node.client()?;
            let info = client.info().await?;
            let mut participants = vec![info["address"].clone()];
            let mut peers = vec![info["peerUrl"].clone()];
            for (addr, url) in parse_with(&with)? {
                participants.push(json!(addr));
                peers.push(json!(url));
            }
            let request = json!({
                "participants": participants, "peers": peers, "nonce": nonce,
                "challengeDuration": challenge.as_secs(), "executive": executive,
                "data": data.bytes().unwrap_or_default(), "wait": wait.as_secs_f64(), "openOnChain": !no_open,
            });
            print_proposed(&client.propose_channel(request).await?, json);
        }
        ChannelCommand::Accept { at: ChannelRef { node, id } } => {
            let v = node.client()?.post(&format!("/v1/channels/{id}/accept"), json!({})).await?;
            print_value(&v, json, |_| format!("accepted channel {id}"));
        }
        ChannelCommand::Reject { at: ChannelRef { node, id }, reason } => {
            let v = node.client()?.post(&format!("/v1/channels/{id}/reject"), json!({ "reason": reason })).await?;
            print_value(&v, json, |_| format!("rejected channel {id}"));
        }
        ChannelCommand::List { node } => {
            let list = node.client()?.channels().await?;
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no channels");
            } else {
                for v in list {
                    let latest = v.latest.as_ref().map_or("-".into(), |s| format!("v{}", s.state.version));
                    println!(
                        "{} {:?} latest {latest} on chain {} v{}",
                        v.record.id,
                        v.record.status,
                        phase_name(v.record.chain.phase),
                        v.record.chain.version
                    );
                }
            }
        }
        ChannelCommand::Show { at: ChannelRef { node, id } } => {
            let v = node.client()?.channel(id).await?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                print_view(&v);
            }
        }
        ChannelCommand::Update { at: ChannelRef { node, id }, data, is_final, wait } => {
            let Some(bytes) = data.bytes() else { bail!("give the new state with --data HEX or --text TEXT") };
            print_proposed(&node.client()?.update(id, bytes, is_final, wait).await?, json);
        }
        ChannelCommand::AcceptUpdate { at: ChannelRef { node, id }, version } => {
            let v = node.client()?.post(&format!("/v1/channels/{id}/updates/{version}/accept"), json!({})).await?;
            print_value(&v, json, |_| format!("signed v{version} of {id}"));
        }
        ChannelCommand::RejectUpdate { at: ChannelRef { node, id }, version, reason } => {
            let path = format!("/v1/channels/{id}/updates/{version}/reject");
            let v = node.client()?.post(&path, json!({ "reason": reason })).await?;
            print_value(&v, json, |_| format!("rejected v{version} of {id}"));
        }
        ChannelCommand::Checkpoint { at: ChannelRef { node, id } } => {
            let v = node.client()?.post(&format!("/v1/channels/{id}/checkpoint"), json!({})).await?;
            print_value(&v, json, receipt_text);
        }
        ChannelCommand::Challenge { at: ChannelRef { node, id } } => {
            let v = node.client()?.post(&format!("/v1/channels/{id}/challenge"), json!({})).await?;
            print_value(&v, json, receipt_text);
        }
        ChannelCommand::Close { at: ChannelRef { node, id }, data, wait } => {
            let body = json!({ "data": data.bytes(), "wait": wait.as_secs_f64() });
            let v = node.client()?.post(&format!("/v1/channels/{id}/close"), body).await?;
            print_value(&v, json, receipt_text);
        }
        ChannelCommand::Status { at: ChannelRef { node, id } } => {
            let v: Value = node.client()?.get(&format!("/v1/channels/{id}/status")).await?;
            print_value(&v, json, |v| {
                let s = &v["status"];
                let p = s["phase"].as_u64().unwrap_or(0) as u8;
                let mut line = format!("{id}: {} at v{}", phase_name(p), s["version"]);
                if p == phase::CHALLENGE {
                    let left = s["finalizesAt"].as_u64().unwrap_or(0).saturating_sub(v["now"].as_u64().unwrap_or(0));
                    line += &format!(", final in {left} s unless answered");
                }
                line
            });
        }
        ChannelCommand::Watch { at: ChannelRef { node, id } } => watch(node.client()?, id, json).await?,
    }
    Ok(())
}

/// Prints the channel's events; while a dispute runs, a line with the time left, redrawn.
async fn watch(client: AppClient, id: B256, json: bool) -> Result<()> {
    let view = client.channel(id).await?;
    if view.record.chain.phase == phase::FINAL {
        println!("{id} is final on chain at v{}", view.record.chain.version);
        return Ok(());
    }
    let status_client = client.clone();
    let progress = tokio::spawn(async move {
        if json {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(v) = status_client.get::<Value>(&format!("/v1/channels/{id}/status")).await {
                let s = &v["status"];
                if s["phase"].as_u64() == Some(phase::CHALLENGE as u64) {
                    let left = s["finalizesAt"].as_u64().unwrap_or(0).saturating_sub(v["now"].as_u64().unwrap_or(0));
                    eprint!("\r  dispute at v{}: {left:>6} s left   ", s["version"]);
                }
            }
        }
    });
    client
        .follow_events(|event| {
            let mine = match &event {
                Event::ChannelProposed { channel_id, .. }
                | Event::ChannelOpened { channel_id }
                | Event::ChannelRejected { channel_id, .. }
                | Event::UpdateProposed { channel_id, .. }
                | Event::UpdateSigned { channel_id, .. }
                | Event::FinalSigned { channel_id, .. }
                | Event::UpdateRejected { channel_id, .. }
                | Event::Chain { channel_id, .. }
                | Event::Answered { channel_id, .. }
                | Event::ChannelFinal { channel_id, .. } => *channel_id == id,
                Event::WatchError { .. } => true,
            };
            if mine {
                if json {
                    println!("{}", serde_json::to_string(&event).unwrap_or_default());
                } else {
                    eprint!("\r");
                    println!("{}", describe(&event));
                }
            }
            !matches!(event, Event::ChannelFinal { channel_id, .. } if channel_id == id)
        })
        .await?;
    progress.abort();
    Ok(())
}

/// One line for a person.
pub(crate) fn describe(event: &Event) -> String {
    match event {
        Event::ChannelProposed { by, .. } => format!("{by} proposes this channel"),
        Event::ChannelOpened { .. } => "version 0 fully signed: the channel is open".into(),
        Event::ChannelRejected { by, reason, .. } => format!("{by} rejected the channel: {reason}"),
        Event::UpdateProposed { version, by, data, .. } => format!("{by} proposes v{version} {}", show_data(data)),
        Event::UpdateSigned { version, data, is_final, .. } => {
            format!("v{version}{} fully signed {}", if *is_final { " (final)" } else { "" }, show_data(data))
        }
        Event::FinalSigned { version, data, .. } => {
            format!("this node signed the final state v{version} {}: it signs nothing more here", show_data(data))
        }
        Event::UpdateRejected { version, reason, .. } => format!("v{version} failed: {reason}"),
        Event::Chain { what, version, finalizes_at, block, .. } => {
            let deadline = if *finalizes_at > 0 { format!(", final at {finalizes_at}") } else { String::new() };
            format!("judge: {what} v{version} in block {block}{deadline}")
        }
        Event::Answered { stale_version, version, receipt, .. } => format!(
            "watchtower: answered stale v{stale_version} with v{version} (tx {}, {} gas)",
            receipt.tx, receipt.gas_used
        ),
        Event::ChannelFinal { version, .. } => format!("final on chain at v{version}"),
        Event::WatchError { message } => format!("watchtower error: {message}"),
    }
}
