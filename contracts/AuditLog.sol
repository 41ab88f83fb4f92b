// SPDX-License-Identifier: Apache-2.0
// hefl's audit log on Ethereum (issue 14; seed 003 logs every rule check on chain). One entry per
// rule check, storage or access decision: the request's hash, the verdict, a reason code, the device
// and the block time. Entries live in events (cheap, readable with eth_getLogs); the contract keeps
// only their count and a hash chain over them, so a reader can tell whether it has seen every entry.
// Batches (appendBatch): many entries per transaction. Only the SHA-256 Merkle root of a batch
// (RFC 6962 tree, computed off chain) goes on chain; the entries stay with the writer, each with an
// inclusion proof a reader checks against the root in the BatchAppended event. Batches have their
// own count and hash chain, so single entries and batches can share one contract.
pragma solidity 0.8.24;

contract AuditLog {
    /// What an entry records (hefl: collector validator, storage guard, access controller).
    uint8 public constant KIND_RULE_CHECK = 0;
    uint8 public constant KIND_STORAGE = 1;
    uint8 public constant KIND_ACCESS = 2;

    address public immutable admin;
    mapping(address => bool) public isWriter;
    /// Number of entries so far; the next entry gets this index.
    uint64 public count;
    /// head_i = keccak256(abi.encode(head_{i-1}, i, requestHash, kind, accepted, reason, deviceId,
    /// writer, timestamp)), head_{-1} = 0: the last entry's chained hash.
    bytes32 public head;

    event Appended(
        uint64 indexed index,
        bytes32 indexed requestHash,
        bytes32 indexed deviceId,
        uint8 kind,
        bool accepted,
        uint16 reason,
        address writer,
        uint256 timestamp,
        bytes32 head
    );
    event WriterChanged(address indexed writer, bool allowed);

    /// Number of batches so far; the next batch gets this index.
    uint64 public batchCount;
    /// batchHead_i = keccak256(abi.encode(batchHead_{i-1}, i, root, entries, writer, timestamp)).
    bytes32 public batchHead;

    event BatchAppended(
        uint64 indexed batch,
        bytes32 indexed root,
        uint32 entries,
        address writer,
        uint256 timestamp,
        bytes32 head
    );
    error EmptyBatch();

    error NotAdmin(address caller);
    error NotWriter(address caller);
    error UnknownKind(uint8 kind);

    constructor() {
        admin = msg.sender;
        isWriter[msg.sender] = true;
        emit WriterChanged(msg.sender, true);
    }

    /// Allows or forbids an account to append. Admin only.
    function setWriter(address writer, bool allowed) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        isWriter[writer] = allowed;
        emit WriterChanged(writer, allowed);
    }

    /// Appends one entry and returns its index. Writers only.
    function append(bytes32 requestHash, uint8 kind, bool accepted, uint16 reason, bytes32 deviceId)
        external
        returns (uint64 index)
    {
        if (!isWriter[msg.sender]) revert NotWriter(msg.sender);
        if (kind > KIND_ACCESS) revert UnknownKind(kind);
        index = count;
        bytes32 h = keccak256(
            abi.encode(head, index, requestHash, kind, accepted, reason, deviceId, msg.sender, block.timestamp)
        );
        head = h;
        count = index + 1;
        emit Appended(index, requestHash, deviceId, kind, accepted, reason, msg.sender, block.timestamp, h);
    }

    /// Appends a batch of `entries` entries by its Merkle root and returns the batch's index. Writers only.
    function appendBatch(bytes32 root, uint32 entries) external returns (uint64 batch) {
        if (!isWriter[msg.sender]) revert NotWriter(msg.sender);
        if (entries == 0) revert EmptyBatch();
        batch = batchCount;
        bytes32 h = keccak256(abi.encode(batchHead, batch, root, entries, msg.sender, block.timestamp));
        batchHead = h;
        batchCount = batch + 1;
        emit BatchAppended(batch, root, entries, msg.sender, block.timestamp, h);
    }
}
