// SHA-256 block compression from OpenSSL's libcrypto, which runs the CPU's SHA extensions
// (SHA-NI) where they exist. mledit keeps its own padding and streaming (Ledger/SHA256.swift) and
// calls only the compression function, through this one inline wrapper.
#pragma once
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

/// Compresses `count` 64-byte blocks into `state` (the eight working words h0…h7).
static inline void mledit_sha256_compress(uint32_t state[8], const unsigned char *blocks, size_t count) {
    SHA256_CTX context;
    for (int i = 0; i < 8; i++) context.h[i] = state[i];
    for (size_t block = 0; block < count; block++) SHA256_Transform(&context, blocks + 64 * block);
    for (int i = 0; i < 8; i++) state[i] = context.h[i];
}
