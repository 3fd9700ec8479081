# embed.cmake -- writes a C source holding the bytes of a file (cmake -P), because xxd is not
# part of a default Debian install.
#   cmake -DIN=<file> -DOUT=<file.c> -DSYMBOL=<name> -P embed.cmake
# defines: const unsigned char <name>[]; const size_t <name>_len;
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR len "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 row)   # CMake regexes have no {n} quantifier
string(REGEX REPLACE "(${row})" "\\1\n    " bytes "${bytes}")
get_filename_component(name "${IN}" NAME)
file(WRITE "${OUT}.tmp"
"/* ${name}.c -- generated at build time from ${name} by embed.cmake; do not edit. */\n"
"#include \"common/setup.h\"\n\n"
"#include \"api/api_int.h\"\n\n"
"const unsigned char ${SYMBOL}[] = {\n    ${bytes}0x00\n};\n"
"const size_t ${SYMBOL}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
