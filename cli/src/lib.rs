//! `avocado-cli`: the `avocado` command (`src/bin/avocado/`) and, as a library, what the demo,
//! the benchmark and the end-to-end tests share to run real nodes: [`process`], `avocado node`
//! started as a child process. The node itself is `avocado-client`; nothing here is part of it.

pub mod process;
