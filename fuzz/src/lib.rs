//! Shared code of switchyard's fuzz targets: reading choices out of the fuzz input
//! (`input`), building client frames and checking the server's byte stream (`wire`), and
//! the body of each target (`http_upgrade`, `connection`, `resp`, `envelope`), kept here so that unit tests and
//! the seed generator can use them too.

pub mod connection;
pub mod envelope;
pub mod http_upgrade;
pub mod input;
pub mod resp;
pub mod seeds;
pub mod wire;
