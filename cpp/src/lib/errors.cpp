#include "tvdeploy/errors.hpp"

#include <c10/util/Exception.h>

namespace tvdeploy {

// Appends rather than writing "'" + p.string() + "'": GCC 12 warns falsely (-Wrestrict) about
// operator+ on a string literal and a temporary string.
std::string quoted(const fs::path& p) {
  std::string text = "'";
  text += p.string();
  text += '\'';
  return text;
}

// c10::Error::what() carries a C++ backtrace; users want the message only.
std::string describe(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

}  // namespace tvdeploy
