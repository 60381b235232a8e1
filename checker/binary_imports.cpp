#include "binary_imports.hpp"

#include "unique_fd.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace checker {

namespace {

// A read-only mapping of a whole file.
struct MappedFile {
    void* data = MAP_FAILED;
    std::size_t size = 0;
    explicit MappedFile(const std::string& path) {
        iolab::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat info {};
        if (!fd || ::fstat(fd.get(), &info) < 0 ||
            info.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr)))
            return;
        size = static_cast<std::size_t>(info.st_size);
        data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    }
    ~MappedFile() {
        if (data != MAP_FAILED) ::munmap(data, size);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const unsigned char* bytes() const { return static_cast<const unsigned char*>(data); }
    bool holds(std::size_t offset, std::size_t length) const {
        return offset <= size && length <= size - offset;
    }
};

}  // namespace

std::optional<std::set<std::string>> imported_functions(const std::string& path) {
    MappedFile file(path);
    if (file.data == MAP_FAILED) return std::nullopt;
    const auto* header = reinterpret_cast<const Elf64_Ehdr*>(file.bytes());
    if (std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
        header->e_ident[EI_CLASS] != ELFCLASS64 ||
        !file.holds(header->e_shoff, std::size_t{header->e_shnum} * sizeof(Elf64_Shdr)))
        return std::nullopt;
    const auto* sections = reinterpret_cast<const Elf64_Shdr*>(file.bytes() + header->e_shoff);
    for (int i = 0; i < header->e_shnum; ++i) {
        const Elf64_Shdr& symbols = sections[i];
        if (symbols.sh_type != SHT_DYNSYM || symbols.sh_link >= header->e_shnum) continue;
        const Elf64_Shdr& names = sections[symbols.sh_link];
        if (!file.holds(symbols.sh_offset, symbols.sh_size) ||
            !file.holds(names.sh_offset, names.sh_size))
            return std::nullopt;
        std::set<std::string> imports;
        const auto* symbol = reinterpret_cast<const Elf64_Sym*>(file.bytes() + symbols.sh_offset);
        for (std::size_t k = 0; k < symbols.sh_size / sizeof(Elf64_Sym); ++k, ++symbol) {
            if (symbol->st_shndx != SHN_UNDEF || symbol->st_name == 0 ||
                symbol->st_name >= names.sh_size)
                continue;
            const char* name =
                reinterpret_cast<const char*>(file.bytes() + names.sh_offset + symbol->st_name);
            imports.emplace(name, strnlen(name, names.sh_size - symbol->st_name));
        }
        return imports;
    }
    return std::nullopt;  // no .dynsym: statically linked
}

std::string resolve_executable(const std::string& command) {
    if (command.find('/') != std::string::npos) return command;
    const char* path = std::getenv("PATH");
    std::istringstream directories(path ? path : "/usr/bin:/bin");
    for (std::string directory; std::getline(directories, directory, ':');) {
        std::string candidate = (directory.empty() ? "." : directory) + "/" + command;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return command;
}

}  // namespace checker
