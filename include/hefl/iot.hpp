#pragma once
/// @file
/// Umbrella header of hefl's IoT trust layer (seed 003): hospital PKI and identities, signing
/// policies, rule contracts, replay guard, Proof-of-Authority ledger, device requests and the
/// collector validator, signed records, record store and access control. Needs Botan 2, SQLite and
/// nlohmann-json (target hefl::iot); the Eigen-only part of hefl is in hefl/hefl.hpp.

#include <hefl/iot/epc.hpp>
#include <hefl/iot/identity.hpp>
#include <hefl/iot/pki.hpp>
#include <hefl/iot/registry.hpp>
#include <hefl/iot/signing.hpp>
#include <hefl/iot/rules.hpp>
#include <hefl/iot/replay_guard.hpp>
#include <hefl/iot/merkle.hpp>
#include <hefl/iot/ledger.hpp>
#include <hefl/iot/ledger_store.hpp>
#include <hefl/iot/request.hpp>
#include <hefl/iot/collector_validator.hpp>
#include <hefl/iot/record.hpp>
#include <hefl/iot/record_store.hpp>
#include <hefl/iot/access.hpp>
#include <hefl/iot/storage_guard.hpp>
