#pragma once
/// @file
/// The exception hierarchy of hefl. Every failure hefl reports by throwing derives from hefl::error,
/// so callers can catch one type; the derived types say which kind of mistake it was.

#include <stdexcept>
#include <string>

namespace hefl {

/// Base of every exception hefl throws.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A caller passed an argument outside the documented domain (wrong size, negative count, ...).
class invalid_argument : public error {
public:
  using error::error;
};

/// Untrusted input (a file, a buffer, a message) could not be parsed or failed validation.
class parse_error : public error {
public:
  using error::error;
};

/// A request would weaken security (insecure parameters, missing signature) and was refused.
class security_error : public error {
public:
  using error::error;
};

/// A homomorphic computation needs more multiplicative levels than the ciphertext has left.
class depth_exhausted : public error {
public:
  using error::error;
};

/// Reading or writing a file, socket or database failed.
class io_error : public error {
public:
  using error::error;
};

} // namespace hefl
