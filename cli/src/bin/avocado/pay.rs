//! `avocado pay …`: payment channels through a running node (started with `--escrow`).

use alloy_primitives::utils::{format_ether, parse_units};
use alloy_primitives::{Address, U256};
use anyhow::Result;
use avocado_client::pay::PaymentView;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::channel::{parse_with, ChannelRef, NodeRef};
use crate::parse_duration;

/// Parses `1.5eth`, `2ether`, `100gwei`, `42wei` or `42` (wei).
pub(crate) fn parse_amount(s: &str) -> Result<U256, String> {
    let s = s.trim().to_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = match unit {
        "" | "wei" => "wei",
        "eth" | "ether" => "ether",
        "gwei" => "gwei",
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use eth, gwei or wei)")),
    };
    parse_units(num, unit).map(Into::into).map_err(|e| format!("{s:?} is not an amount: {e}"))
}

#[derive(Subcommand)]
pub(crate) enum PayCommand {
    /// Open a payment channel (this node is participant 0) and deposit into the escrow.
    Open {
        #[command(flatten)]
        node: NodeRef,
        /// Another participant and its peer URL: ADDRESS=URL (repeat, in order).
        #[arg(long = "with", value_name = "ADDRESS=URL", required = true)]
        with: Vec<String>,
        /// What to deposit (e.g. 1.5eth).
        #[arg(long, value_parser = parse_amount, default_value = "0")]
        deposit: U256,
        /// Dispute window.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        challenge: std::time::Duration,
        /// Channel nonce (random by default).
        #[arg(long)]
        nonce: Option<u64>,
    },
    /// Deposit more into a channel.
    Deposit {
        #[command(flatten)]
        at: ChannelRef,
        /// Amount (e.g. 0.5eth).
        #[arg(value_parser = parse_amount)]
        amount: U256,
    },
    /// Count this node's deposits that the latest state does not count yet (after the others
    /// declined to count a deposit, for example).
    Count {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Pay another participant.
    Send {
        #[command(flatten)]
        at: ChannelRef,
        /// Amount (e.g. 0.01eth).
        #[arg(value_parser = parse_amount)]
        amount: U256,
        /// Payee (needed with more than two participants).
        #[arg(long)]
        to: Option<Address>,
    },
    /// Balances off chain and deposits on chain.
    Balance {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Close cooperatively and have the escrow pay out the final balances.
    Close {
        #[command(flatten)]
        at: ChannelRef,
    },
    /// Withdraw what the escrow owes this node's account.
    Withdraw {
        #[command(flatten)]
        node: NodeRef,
    },
}

fn eth(v: &U256) -> String {
    format!("{} ETH", format_ether(*v))
}

fn show(v: &Value, json: bool, text: impl FnOnce(&Value) -> String) {
    if json {
        println!("{v}");
    } else {
        println!("{}", text(v));
    }
}

pub(crate) async fn run(cmd: PayCommand, json: bool) -> Result<()> {
    match cmd {
        PayCommand::Open { node, with, deposit, challenge, nonce } => {
            let (participants, peers): (Vec<Address>, Vec<String>) = parse_with(&with)?.into_iter().unzip();
            let body = json!({ "participants": participants, "peers": peers, "challengeDuration": challenge.as_secs(),
                "nonce": nonce, "deposit": deposit });
            let v = node.client()?.post("/v1/pay", body).await?;
            show(&v, json, |v| {
                let mut s = format!(
                    "payment channel {} open ({} gas)",
                    v["channelId"].as_str().unwrap_or("?"),
                    v["open"]["gasUsed"]
                );
                if v.get("deposit").is_some() {
                    s += &format!(
                        "; deposited {} ({} gas), counted in v{}",
                        eth(&deposit),
                        v["deposit"]["gasUsed"],
                        v["version"]
                    );
                }
                s
            });
        }
        PayCommand::Deposit { at: ChannelRef { node, id }, amount } => {
            let v = node.client()?.post(&format!("/v1/pay/{id}/deposit"), json!({ "amount": amount })).await?;
            show(&v, json, |v| {
                format!("deposited {} ({} gas), counted in v{}", eth(&amount), v["deposit"]["gasUsed"], v["version"])
            });
        }
        PayCommand::Count { at: ChannelRef { node, id } } => {
            let v = node.client()?.post(&format!("/v1/pay/{id}/count"), json!({})).await?;
            show(&v, json, |v| format!("your deposits are counted in v{}", v["version"]));
        }
        PayCommand::Send { at: ChannelRef { node, id }, amount, to } => {
            let v = node.client()?.post(&format!("/v1/pay/{id}/send"), json!({ "amount": amount, "to": to })).await?;
            show(&v, json, |v| format!("paid {}: v{} fully signed", eth(&amount), v["version"]));
        }
        PayCommand::Balance { at: ChannelRef { node, id } } => {
            let v: PaymentView = node.client()?.get(&format!("/v1/pay/{id}")).await?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "payment channel {} at v{}{}",
                    v.channel_id,
                    v.version.unwrap_or(0),
                    if v.settled { " (settled)" } else { "" }
                );
                for (i, p) in v.participants.iter().enumerate() {
                    let me = if i == v.me { " (you)" } else { "" };
                    let b = v.balances.get(i).copied().unwrap_or_default();
                    let counted = v.counted.get(i).copied().unwrap_or_default();
                    let uncounted = v.deposits[i].saturating_sub(counted);
                    let back = if uncounted.is_zero() {
                        String::new()
                    } else {
                        format!(" ({} not counted: paid back to it at settlement)", eth(&uncounted))
                    };
                    println!("  {p}{me}: balance {}, deposited {}{back}", eth(&b), eth(&v.deposits[i]));
                }
            }
        }
        PayCommand::Close { at: ChannelRef { node, id } } => {
            let v = node.client()?.post(&format!("/v1/pay/{id}/close"), json!({})).await?;
            show(&v, json, |v| {
                format!(
                    "concluded ({} gas) and settled ({} gas): withdraw with `avocado pay withdraw`",
                    v["conclude"]["gasUsed"], v["settle"]["gasUsed"]
                )
            });
        }
        PayCommand::Withdraw { node } => {
            let v = node.client()?.post("/v1/pay/withdraw", json!({})).await?;
            show(&v, json, |v| {
                let amount: U256 = serde_json::from_value(v["amount"].clone()).unwrap_or_default();
                format!("withdrew {} ({} gas)", eth(&amount), v["withdraw"]["gasUsed"])
            });
        }
    }
    Ok(())
}
