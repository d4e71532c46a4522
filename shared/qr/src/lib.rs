//! Collection code payloads and images (SPEC §3).
