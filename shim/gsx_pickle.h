/*
 * gsx_pickle.h - a check of the length fields in a Python pickle, run before
 * libtorch's unpickler reads it.
 */
#ifndef GSX_PICKLE_H
#define GSX_PICKLE_H

#include <cstddef>
#include <string>

namespace gsx {

/* Walks the opcodes of a pickle (protocols 0 to 5) up to its STOP opcode.
 * Returns true when every length and memo index it contains fits in the
 * size bytes, or false with the reason in why. libtorch 1.13's unpickler
 * allocates what a length field claims before reading the bytes, so a
 * 1 KB pickle can make it allocate and fill 4 GB. */
bool pickle_check(const unsigned char *data, size_t size, std::string &why);

} // namespace gsx

#endif
