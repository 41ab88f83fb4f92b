#!/usr/bin/env python3
"""Known-answer vectors for hefl's CKKS, computed without hefl (pure Python, exact integers).

Writes tests/unit/ckks_kat_vectors.hpp, which tests/unit/ckks_kat_test.cpp compares against. Run
from the repository root:  python3 tests/kat/make_ckks_kat.py

Everything here is written from the definitions, not from hefl's code:
  - NTT-friendly primes: for each bit size b, the primes q = 1 (mod 2N) below 2^b in descending
    order (hefl's documented rule), found with a deterministic Miller-Rabin test;
  - CKKS encoding (Cheon, Kim, Kim, Song 2017): slot j of m(X) is m(zeta^(5^j)), zeta = exp(i*pi/N),
    so m_k = round(Delta * (2/N) * Re(sum_j z_j * zeta^(-5^j k)));
  - negacyclic products in Z_q[X]/(X^N + 1) by the schoolbook formula;
  - decryption m + e = c0 + c1*s (mod q_i), CRT to the centered integer, and the slots by the
    direct sum sum_k (m_k + e_k) zeta^(5^j k) / Delta;
  - the uniform part of a seeded ciphertext: ChaCha20 (RFC 8439, checked against its section
    2.3.2 test vector below) with zero nonce and counter 0.., read as little-endian 64-bit words,
    each masked to bit_width(q) bits and rejected while >= q, limb after limb.
The pseudo-random inputs come from a 64-bit LCG (Knuth's MMIX constants) so the file is reproducible.
"""
import cmath
import math
import struct
import sys

N = 32
BITS = [30, 25, 25, 30]          # chain q0, q1, q2 and the special prime
LOG2_SCALE = 20
SCALE = 2 ** LOG2_SCALE
LEVEL = 2


def is_prime(n):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic below 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def primes_for(bits, n):
    need = {}
    for b in bits:
        need[b] = need.get(b, 0) + 1
    found = {}
    for b, count in need.items():
        out, q = [], 2 ** b - 2 * n + 1
        while len(out) < count and q > 2 ** (b - 1):
            if is_prime(q):
                out.append(q)
            q -= 2 * n
        found[b] = out
    used, primes = {}, []
    for b in bits:
        primes.append(found[b][used.get(b, 0)])
        used[b] = used.get(b, 0) + 1
    return primes


class lcg:
    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % 2 ** 64
        return self.s >> 11  # 53 bits


def encode(values, n, scale):
    zeta = cmath.exp(1j * math.pi / n)
    slots = n // 2
    z = list(values) + [0.0] * (slots - len(values))
    coeffs, margin = [], 1.0
    for k in range(n):
        acc = 0j
        for j in range(slots):
            acc += z[j] * zeta ** (-(pow(5, j, 2 * n)) * k)
        x = scale * 2.0 / n * acc.real
        r = round(x)
        margin = min(margin, abs(abs(x - math.floor(x)) - 0.5))
        coeffs.append(int(r))
    assert margin > 1e-3, "a coefficient is too close to a rounding tie for a stable vector"
    return coeffs


def negacyclic(a, b, q):
    n = len(a)
    out = [0] * n
    for i in range(n):
        for j in range(n):
            k = i + j
            if k < n:
                out[k] = (out[k] + a[i] * b[j]) % q
            else:
                out[k - n] = (out[k - n] - a[i] * b[j]) % q
    return out


def centered_crt(residues, primes):
    Q = math.prod(primes)
    x = 0
    for r, q in zip(residues, primes):
        m = Q // q
        x += r * m * pow(m, -1, q)
    x %= Q
    return x - Q if x > Q // 2 else x


def decode(coeffs, n, scale):
    zeta = cmath.exp(1j * math.pi / n)
    return [sum(c * zeta ** (pow(5, j, 2 * n) * k) for k, c in enumerate(coeffs)).real / scale for j in range(n // 2)]


def rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & 0xffffffff


def chacha20_block(key, counter, nonce):
    def qr(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)
    state = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] + list(struct.unpack("<8I", key)) + [counter] + \
        list(struct.unpack("<3I", nonce))
    w = state[:]
    for _ in range(10):
        qr(w, 0, 4, 8, 12); qr(w, 1, 5, 9, 13); qr(w, 2, 6, 10, 14); qr(w, 3, 7, 11, 15)
        qr(w, 0, 5, 10, 15); qr(w, 1, 6, 11, 12); qr(w, 2, 7, 8, 13); qr(w, 3, 4, 9, 14)
    return struct.pack("<16I", *[(a + b) & 0xffffffff for a, b in zip(w, state)])


# RFC 8439 section 2.3.2
_block = chacha20_block(bytes(range(32)), 1, bytes.fromhex("000000090000004a00000000"))
assert _block.hex().startswith("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"), "ChaCha20 KAT"


def chacha_words(seed):
    counter = 0
    while True:
        block = chacha20_block(seed, counter, bytes(12))
        counter += 1
        for i in range(8):
            yield struct.unpack_from("<Q", block, 8 * i)[0]


def expand_uniform(seed, primes):
    words = chacha_words(seed)
    limbs = []
    for q in primes:
        mask = (1 << q.bit_length()) - 1
        limb = []
        for _ in range(N):
            r = next(words) & mask
            while r >= q:
                r = next(words) & mask
            limb.append(r)
        limbs.append(limb)
    return limbs


def main(out_path):
    primes = primes_for(BITS, N)
    chain = primes[:LEVEL + 1]
    rng = lcg(2026)
    values = [((rng.next() % 2001) - 1000) / 1000.0 for _ in range(N // 2)]
    m = encode(values, N, SCALE)

    a = [[rng.next() % q for _ in range(N)] for q in chain]
    b = [[rng.next() % q for _ in range(N)] for q in chain]
    ab = [negacyclic(a[i], b[i], q) for i, q in enumerate(chain)]

    s = [(rng.next() % 3) - 1 for _ in range(N)]
    e = [(rng.next() % 7) - 3 for _ in range(N)]
    c1 = [[rng.next() % q for _ in range(N)] for q in chain]
    c0 = []
    for i, q in enumerate(chain):
        c1s = negacyclic(c1[i], [x % q for x in s], q)
        c0.append([(-c1s[k] + e[k] + m[k]) % q for k in range(N)])
    # Decrypt with exact integers, then decode directly.
    c1s = [negacyclic(c1[i], [x % q for x in s], q) for i, q in enumerate(chain)]
    plain = [[(c0[i][k] + c1s[i][k]) % q for k in range(N)] for i, q in enumerate(chain)]
    centered = [centered_crt([plain[i][k] for i in range(len(chain))], chain) for k in range(N)]
    assert centered == [m[k] + e[k] for k in range(N)]
    slots = decode(centered, N, SCALE)

    seed = bytes((7 * i + 3) % 256 for i in range(32))
    uniform = expand_uniform(seed, chain)

    def arr(name, xs, typ="std::uint64_t"):
        body = ", ".join(str(x) + ("ULL" if typ == "std::uint64_t" else "") for x in xs)
        return f"inline constexpr {typ} {name}[] = {{{body}}};\n"

    def arr2(name, rows):
        return f"inline constexpr std::uint64_t {name}[][{N}] = {{\n" + ",\n".join(
            "    {" + ", ".join(f"{x}ULL" for x in r) + "}" for r in rows) + "};\n"

    with open(out_path, "w") as f:
        f.write("#pragma once\n// Generated by tests/kat/make_ckks_kat.py (pure Python, independent of hefl). Do not edit.\n")
        f.write("#include <cstddef>\n#include <cstdint>\n\nnamespace ckks_kat {\n\n")
        f.write(f"inline constexpr std::size_t n = {N};\ninline constexpr int bits[] = {{{', '.join(map(str, BITS))}}};\n")
        f.write(f"inline constexpr double log2_scale = {LOG2_SCALE};\ninline constexpr std::size_t level = {LEVEL};\n")
        f.write(arr("primes", primes))
        f.write("inline constexpr double values[] = {" + ", ".join(repr(v) for v in values) + "};\n")
        f.write("// round(scale * sigma^-1(values)), as signed integers\n")
        f.write(arr("encoded", m, "std::int64_t"))
        f.write(arr2("a", a) + arr2("b", b) + arr2("a_times_b", ab))
        f.write(arr("secret", s, "std::int64_t") + arr2("c0", c0) + arr2("c1", c1))
        f.write("inline constexpr double decrypted_slots[] = {" + ", ".join(repr(v) for v in slots) + "};\n")
        f.write("inline constexpr std::uint8_t seed[] = {" + ", ".join(str(x) for x in seed) + "};\n")
        f.write(arr2("expanded_uniform", uniform))
        f.write("\n} // namespace ckks_kat\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/unit/ckks_kat_vectors.hpp")
