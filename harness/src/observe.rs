//! Stage 3, act and observe: what happens while a step plays, inside the nodes.
//!
//! [`act`] applies a step's actions; [`probe`] sends the traffic of checks from
//! sockets opened in a node (ping, connect, udp, tcp) and serves its listeners;
//! [`exec`] runs commands and background programs in a node, [`service`] the node's
//! daemons (readiness, stop, restart, their output); [`capture`] records an
//! interface and [`decode`] reads the frames; [`frame`] builds frames that [`inject`]
//! puts on the wire; [`stream`] sends a paced UDP stream and measures what arrived.

pub mod act;
pub mod capture;
pub mod cause;
pub mod counters;
pub mod decode;
pub mod drops;
pub mod exec;
pub mod frame;
pub mod inject;
pub mod patience;
pub mod probe;
pub mod refusal;
pub mod service;
pub mod stream;
