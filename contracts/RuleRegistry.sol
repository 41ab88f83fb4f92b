// SPDX-License-Identifier: Apache-2.0
// hefl's rule contracts on Ethereum (issue 14; seed 003 installs its rules as smart contracts). Per
// device group, the admin installs a rule contract (the same JSON document hefl's rule manager reads:
// data types, fields, types, ranges, payload and rate limits) under a strictly increasing version.
// Every change is an event; anyone can read the current rule with ruleOf.
pragma solidity 0.8.24;

contract RuleRegistry {
    struct Rule {
        uint64 version;
        bytes32 documentHash;
        uint256 updatedAt;
        bytes document;
    }

    address public admin;
    mapping(bytes32 => Rule) private rules;  // keyed by keccak256(bytes(group))

    event RuleSet(bytes32 indexed groupId, string group, uint64 version, bytes32 documentHash);
    event AdminChanged(address indexed previous, address indexed next);

    error NotAdmin(address caller);
    error StaleVersion(uint64 current, uint64 proposed);
    error EmptyDocument();
    error EmptyGroup();
    error ZeroAdmin();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    constructor() {
        admin = msg.sender;
        emit AdminChanged(address(0), msg.sender);
    }

    /// Installs or updates a group's rule contract; the version must exceed the installed one.
    function setRule(string calldata group, uint64 version, bytes calldata document) external onlyAdmin {
        if (bytes(group).length == 0) revert EmptyGroup();
        if (document.length == 0) revert EmptyDocument();
        bytes32 id = keccak256(bytes(group));
        Rule storage r = rules[id];
        if (version <= r.version) revert StaleVersion(r.version, version);
        bytes32 h = keccak256(document);
        r.version = version;
        r.documentHash = h;
        r.updatedAt = block.timestamp;
        r.document = document;
        emit RuleSet(id, group, version, h);
    }

    /// The installed rule of a group (version 0 and an empty document when there is none).
    function ruleOf(string calldata group)
        external
        view
        returns (uint64 version, bytes32 documentHash, uint256 updatedAt, bytes memory document)
    {
        Rule storage r = rules[keccak256(bytes(group))];
        return (r.version, r.documentHash, r.updatedAt, r.document);
    }

    /// Hands the admin role to another account.
    function transferAdmin(address next) external onlyAdmin {
        if (next == address(0)) revert ZeroAdmin();
        emit AdminChanged(admin, next);
        admin = next;
    }
}
