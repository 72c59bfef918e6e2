//! Tally's peer-to-peer layer (libp2p), as one actor that moves bytes. Being written.
#![deny(missing_docs)]
