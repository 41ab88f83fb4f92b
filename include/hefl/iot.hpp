#pragma once
/// @file
/// Umbrella header of hefl's IoT trust layer (seed 003): hospital PKI and identities, signing
/// policies, rule contracts, replay guard, Proof-of-Authority ledger, device requests and the
/// collector validator, signed records, record store and access control. Needs Botan 2, SQLite and
/// nlohmann-json (target hefl::iot); the Eigen-only part of hefl is in hefl/hefl.hpp.

#include <hefl/iot/pki/epc.hpp>
#include <hefl/iot/pki/identity.hpp>
#include <hefl/iot/pki/pki.hpp>
#include <hefl/iot/hospital/registry.hpp>
#include <hefl/iot/pki/signing.hpp>
#include <hefl/iot/collection/rules.hpp>
#include <hefl/iot/collection/replay_guard.hpp>
#include <hefl/iot/ledger/merkle.hpp>
#include <hefl/iot/ledger/ledger.hpp>
#include <hefl/iot/ledger/ledger_store.hpp>
#include <hefl/iot/collection/request.hpp>
#include <hefl/iot/collection/collector_validator.hpp>
#include <hefl/iot/storage/record.hpp>
#include <hefl/iot/storage/record_store.hpp>
#include <hefl/iot/hospital/access.hpp>
#include <hefl/iot/storage/storage_guard.hpp>
