#pragma once
/// @file
/// Umbrella header of hefl's mutual-TLS 1.2 transport (Botan 2 TLS driven by standalone Asio; part of
/// hefl::iot). See docs/net.md.

#include <hefl/net/frame.hpp>
#include <hefl/net/tls_policy.hpp>
#include <hefl/net/credentials.hpp>
#include <hefl/net/peer.hpp>
#include <hefl/net/server.hpp>
#include <hefl/net/client.hpp>
#include <hefl/net/validation_cache.hpp>
