/*
 * gsx_pickle.cpp - gsx::pickle_check: the opcode walk described in gsx_pickle.h.
 *
 * The opcode table follows CPython's Lib/pickletools.py: each opcode has no
 * argument, a fixed-size one, a newline-terminated one, or a length field
 * followed by that many bytes.
 */
#include "gsx_pickle.h"

#include <cstdint>
#include <cstdio>

namespace {

enum class Arg {
    none,
    fixed,   // `bytes` bytes
    line,    // up to and including '\n'
    two_lines,
    counted, // a little-endian length of `bytes` bytes, then that many bytes
    memo,    // a little-endian memo index of `bytes` bytes
    invalid
};

struct Opcode {
    Arg arg;
    unsigned bytes;
};

Opcode opcode_of(unsigned char op)
{
    switch (op) {
    case '(': case '.': case '0': case '1': case '2': case 'N': case 'R': case 'a': case 'b': case 'd':
    case '}': case 'e': case 'l': case ']': case 'o': case 's': case 'u': case 't': case ')': case 'Q':
    case 0x81: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8f: case 0x90: case 0x91:
    case 0x92: case 0x93: case 0x94: case 0x97: case 0x98:
        return {Arg::none, 0};
    case 'K': case 0x80: case 0x82: case 'h':
        return {Arg::fixed, 1};
    case 'M': case 0x83:
        return {Arg::fixed, 2};
    case 'J': case 0x84: case 'j':
        return {Arg::fixed, 4};
    case 'G': case 0x95:
        return {Arg::fixed, 8};
    case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'g': case 'p':
        return {Arg::line, 0};
    case 'c': case 'i':
        return {Arg::two_lines, 0};
    case 'U': case 'C': case 0x8c: case 0x8a:
        return {Arg::counted, 1};
    case 'T': case 'X': case 'B': case 0x8b:
        return {Arg::counted, 4};
    case 0x8d: case 0x8e: case 0x96:
        return {Arg::counted, 8};
    case 'q':
        return {Arg::memo, 1};
    case 'r':
        return {Arg::memo, 4};
    default:
        return {Arg::invalid, 0};
    }
}

uint64_t read_le(const unsigned char *p, unsigned bytes)
{
    uint64_t value = 0;
    for (unsigned i = 0; i < bytes; i++)
        value |= static_cast<uint64_t>(p[i]) << (8 * i);
    return value;
}

std::string at_offset(const char *what, unsigned char op, size_t offset)
{
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s (opcode 0x%02x at byte %zu)", what, op, offset);
    return buf;
}

} // namespace

namespace gsx {

bool pickle_check(const unsigned char *data, size_t size, std::string &why)
{
    size_t pos = 0;

    while (pos < size) {
        const unsigned char op = data[pos];
        const size_t start = pos;
        const Opcode code = opcode_of(op);
        size_t left = size - pos - 1;
        pos++;

        switch (code.arg) {
        case Arg::invalid:
            why = at_offset("invalid pickle opcode", op, start);
            return false;
        case Arg::none:
            if (op == '.')
                return true;
            break;
        case Arg::fixed:
            if (left < code.bytes) {
                why = at_offset("pickle ends inside an argument", op, start);
                return false;
            }
            pos += code.bytes;
            break;
        case Arg::line:
        case Arg::two_lines: {
            const int lines = code.arg == Arg::line ? 1 : 2;
            for (int i = 0; i < lines; i++) {
                while (pos < size && data[pos] != '\n')
                    pos++;
                if (pos == size) {
                    why = at_offset("pickle ends inside a text argument", op, start);
                    return false;
                }
                pos++;
            }
            break;
        }
        case Arg::counted: {
            if (left < code.bytes) {
                why = at_offset("pickle ends inside a length", op, start);
                return false;
            }
            const uint64_t length = read_le(data + pos, code.bytes);
            pos += code.bytes;
            left -= code.bytes;
            if (length > left) {
                why = at_offset(("pickle claims " + std::to_string(length) + " bytes where " + std::to_string(left) +
                                 " remain").c_str(),
                                op, start);
                return false;
            }
            pos += static_cast<size_t>(length);
            break;
        }
        case Arg::memo: {
            if (left < code.bytes) {
                why = at_offset("pickle ends inside a memo index", op, start);
                return false;
            }
            // Every memo entry takes an opcode, so an index past the size
            // can only make the unpickler reserve a huge table.
            const uint64_t index = read_le(data + pos, code.bytes);
            if (index >= size) {
                why = at_offset(("pickle memo index " + std::to_string(index) + " is above the " +
                                 std::to_string(size) + " bytes of the pickle").c_str(),
                                op, start);
                return false;
            }
            pos += code.bytes;
            break;
        }
        }
    }
    why = "pickle has no STOP opcode";
    return false;
}

} // namespace gsx
