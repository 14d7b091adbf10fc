//! The egress guard. (Being built.)
