#pragma once
/// @file
/// Umbrella header of the hospital services over mutual TLS (part of hefl::iot): collector and
/// storage services, device and reader clients, the vital-signs simulator. See docs/services.md.

#include <hefl/net.hpp>
#include <hefl/services/wire.hpp>
#include <hefl/services/storage_service.hpp>
#include <hefl/services/collector_service.hpp>
#include <hefl/services/device_client.hpp>
#include <hefl/services/reader_client.hpp>
#include <hefl/services/vitals.hpp>
#include <hefl/services/ledger_replica_service.hpp>
