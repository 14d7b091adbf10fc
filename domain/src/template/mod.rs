//! A Selmer-compatible template engine: compiled once, rendered with fuel and an output cap. (Being built.)
