//! Strict ABI decoding of exactly the argument shapes of the judge and the escrow, for the
//! contracts, which cannot afford a generic decoder (every byte of code is paid for).
//!
//! `(ChannelParams, State, bytes[, bytes])`, `(ChannelParams)` and `(address, ChannelParams[,
//! bytes])` with
//! `ChannelParams = (address[], uint64, uint64, address)` and `State = (bytes32, uint64, bytes,
//! bool)`, and the static `(bytes32)`. It refuses what Solidity's own decoder refuses — an offset
//! or a length that points outside the calldata, a `uint64`, `address` or `bool` with dirty high
//! bits — with [`Malformed`], never a panic. Offsets may point anywhere inside the calldata, as
//! Solidity allows; extra bytes after the encoding are ignored, as Solidity does.

use alloc::vec::Vec;

use alloy_primitives::{Address, B256};

/// Calldata that is not an ABI encoding of the function's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// `ChannelParams`, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `participants`.
    pub participants: Vec<Address>,
    /// `nonce`.
    pub nonce: u64,
    /// `challengeDuration`.
    pub challenge_duration: u64,
    /// `executive`.
    pub executive: Address,
}

/// `State`, decoded; `data` borrows the calldata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateArg<'a> {
    /// `channelId`.
    pub channel_id: B256,
    /// `version`.
    pub version: u64,
    /// `data`.
    pub data: &'a [u8],
    /// `isFinal`.
    pub is_final: bool,
}

/// `challenge`'s arguments: params, state, signatures, the challenger's signature.
pub type ChallengeArgs<'a> = (Params, StateArg<'a>, &'a [u8], &'a [u8]);

/// The arguments of one call: the calldata after the selector.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    /// The arguments `args` (calldata without its selector).
    pub fn new(args: &'a [u8]) -> Self {
        Self(args)
    }

    /// The 32-byte word at `at`.
    pub fn word(&self, at: usize) -> Result<B256, Malformed> {
        Ok(B256::from_slice(self.raw(at)?))
    }

    fn raw(&self, at: usize) -> Result<&'a [u8], Malformed> {
        let end = at.checked_add(32).ok_or(Malformed)?;
        self.0.get(at..end).ok_or(Malformed)
    }

    /// A word whose first `zeros` bytes must be zero; the rest.
    fn tail(&self, at: usize, zeros: usize) -> Result<&'a [u8], Malformed> {
        let w = self.raw(at)?;
        if w[..zeros].iter().any(|b| *b != 0) {
            return Err(Malformed);
        }
        Ok(&w[zeros..])
    }

    /// The `uint64` at `at`.
    pub fn uint64(&self, at: usize) -> Result<u64, Malformed> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.tail(at, 24)?);
        Ok(u64::from_be_bytes(b))
    }

    /// A length or offset: a `uint256` that must fit the calldata, so 32 bits.
    fn size(&self, at: usize) -> Result<usize, Malformed> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.tail(at, 28)?);
        Ok(u32::from_be_bytes(b) as usize)
    }

    /// The `address` at `at`.
    pub fn address(&self, at: usize) -> Result<Address, Malformed> {
        Ok(Address::from_slice(self.tail(at, 12)?))
    }

    fn boolean(&self, at: usize) -> Result<bool, Malformed> {
        match self.tail(at, 31)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed),
        }
    }

    /// Where the dynamic value whose offset (relative to `base`) is at `at` starts.
    fn follow(&self, base: usize, at: usize) -> Result<usize, Malformed> {
        let to = base.checked_add(self.size(at)?).ok_or(Malformed)?;
        if to > self.0.len() {
            return Err(Malformed);
        }
        Ok(to)
    }

    /// `bytes` whose offset (relative to `base`) is at `at`.
    pub fn bytes(&self, base: usize, at: usize) -> Result<&'a [u8], Malformed> {
        let start = self.follow(base, at)?;
        let len = self.size(start)?;
        let from = start + 32;
        let end = from.checked_add(len).ok_or(Malformed)?;
        self.0.get(from..end).ok_or(Malformed)
    }

    /// `ChannelParams` whose offset is at `at` (relative to the arguments).
    pub fn params(&self, at: usize) -> Result<Params, Malformed> {
        let t = self.follow(0, at)?;
        let list = self.follow(t, t)?;
        let n = self.size(list)?;
        // Each participant is a word: refuse a count the calldata cannot hold before allocating.
        if n > (self.0.len() - list) / 32 {
            return Err(Malformed);
        }
        let participants = (0..n).map(|i| self.address(list + 32 + 32 * i)).collect::<Result<Vec<_>, _>>()?;
        Ok(Params {
            participants,
            nonce: self.uint64(t + 32)?,
            challenge_duration: self.uint64(t + 64)?,
            executive: self.address(t + 96)?,
        })
    }

    /// `State` whose offset is at `at`.
    fn state(&self, at: usize) -> Result<StateArg<'a>, Malformed> {
        let t = self.follow(0, at)?;
        Ok(StateArg {
            channel_id: self.word(t)?,
            version: self.uint64(t + 32)?,
            data: self.bytes(t, t + 64)?,
            is_final: self.boolean(t + 96)?,
        })
    }

    /// `(ChannelParams, State, bytes)`: `open`, `checkpoint`, `conclude`.
    pub fn params_state_sigs(&self) -> Result<(Params, StateArg<'a>, &'a [u8]), Malformed> {
        Ok((self.params(0)?, self.state(32)?, self.bytes(0, 64)?))
    }

    /// `(ChannelParams, State, bytes, bytes)`: `challenge`.
    pub fn challenge(&self) -> Result<ChallengeArgs<'a>, Malformed> {
        Ok((self.params(0)?, self.state(32)?, self.bytes(0, 64)?, self.bytes(0, 96)?))
    }

    /// `(ChannelParams)`: `channelId`.
    pub fn params_only(&self) -> Result<Params, Malformed> {
        self.params(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelParams, IAvocadoJudge as I, State};
    use alloc::vec;
    use alloy_primitives::Bytes;
    use alloy_sol_types::SolCall;

    fn call() -> (ChannelParams, State, Vec<u8>) {
        let params = ChannelParams {
            participants: vec![Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3)],
            nonce: 7,
            challengeDuration: 3600,
            executive: Address::repeat_byte(0xee),
        };
        let state =
            State { channelId: B256::repeat_byte(9), version: 5, data: Bytes::from(vec![0xab; 70]), isFinal: true };
        let sigs = Bytes::from(vec![0x11; 192]);
        let data = I::checkpointCall { params: params.clone(), state: state.clone(), sigs }.abi_encode();
        (params, state, data)
    }

    #[test]
    fn decodes_what_alloy_encodes() {
        let (params, state, data) = call();
        let (p, s, sigs) = Args::new(&data[4..]).params_state_sigs().unwrap();
        assert_eq!(p.participants, params.participants);
        assert_eq!((p.nonce, p.challenge_duration, p.executive), (7, 3600, params.executive));
        assert_eq!((s.channel_id, s.version, s.data, s.is_final), (state.channelId, 5, &state.data[..], true));
        assert_eq!(sigs, &[0x11; 192][..]);
        let ch = I::challengeCall {
            params: params.clone(),
            state,
            sigs: Bytes::from(vec![1; 128]),
            challengerSig: Bytes::from(vec![2; 64]),
        }
        .abi_encode();
        let (_, _, sigs, by) = Args::new(&ch[4..]).challenge().unwrap();
        assert_eq!((sigs.len(), by), (128, &[2u8; 64][..]));
        let id = I::channelIdCall { params }.abi_encode();
        assert_eq!(Args::new(&id[4..]).params_only().unwrap().participants.len(), 3);
    }

    #[test]
    fn refuses_every_truncation() {
        let (_, _, data) = call();
        for cut in 4..data.len() - 1 {
            // The sigs' padding is the last 0 bytes (192 is a multiple of 32): any cut loses data.
            assert_eq!(Args::new(&data[4..cut]).params_state_sigs().map(|_| ()), Err(Malformed), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_dirty_words_and_wild_offsets() {
        let (_, _, data) = call();
        let args = &data[4..];
        let head = |i: usize| u32::from_be_bytes(args[32 * i + 28..32 * i + 32].try_into().unwrap()) as usize;
        let (params_at, state_at) = (head(0), head(1));
        let tamper = |at: usize, byte: u8| {
            let mut a = args.to_vec();
            a[at] = byte;
            Args::new(&a).params_state_sigs().map(|_| ())
        };
        // Offsets beyond the calldata, or beyond 32 bits.
        assert_eq!(tamper(30, 0xff), Err(Malformed));
        assert_eq!(tamper(0, 1), Err(Malformed));
        // The participants' length beyond what the calldata holds.
        let list = params_at + head(params_at / 32);
        assert_eq!(tamper(list + 29, 0x10), Err(Malformed));
        // Dirty address, uint64, bool.
        assert_eq!(tamper(list + 32, 1), Err(Malformed));
        assert_eq!(tamper(params_at + 32, 1), Err(Malformed));
        assert_eq!(tamper(params_at + 96 + 11, 1), Err(Malformed));
        assert_eq!(tamper(state_at + 32 + 23, 1), Err(Malformed));
        assert_eq!(tamper(state_at + 96 + 31, 2), Err(Malformed));
        assert_eq!(tamper(state_at + 96, 1), Err(Malformed));
        // The data's length beyond the calldata.
        let data_at = state_at + head(state_at / 32 + 2);
        assert_eq!(tamper(data_at + 28, 0x7f), Err(Malformed));
        // Untouched, it decodes.
        assert!(Args::new(args).params_state_sigs().is_ok());
    }
}
