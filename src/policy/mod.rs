//! The policy gate (placeholder; being written).
