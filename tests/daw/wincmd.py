"""Run a Windows command line here the way Windows would, for the Reaper tests (issue 19).

    python tests/daw/wincmd.py CMDLINE_FILE      # the raw line REAPER's ExecProcess was given

What it follows (from Microsoft's documentation of CreateProcess, CommandLineToArgvW, `cmd /?`,
`chcp` and batch parameters; written for these tests, no Windows code):

* CreateProcess: the program is the line's first word (a double-quoted run, or up to a space).
  A program gets the whole line and splits it itself with the C runtime's rules
  (tests/daw/harness.split_windows).
* ``cmd.exe [/d] [/s] [/q] /c REST``: when /s is given, or when REST does not hold exactly two
  quotes around an existing file's name with a space and none of ``&<>()@^|`` between them, cmd
  removes REST's first character if it is a quote and the last quote in REST. What is left runs
  as a command line: its first word is the program, ``>``, ``2>``, ``<`` outside quotes redirect,
  an unquoted ``&`` separates commands. An unknown program: "is not recognized", status 9009.
* A ``.cmd``/``.bat`` file runs line by line; each line is decoded with the console's code page
  at that moment (the OEM code page, 850 on a Western European Windows, until ``chcp N`` changes
  it; 65001 is UTF-8). Before a line runs, ``%%`` becomes ``%``, ``%~dp0`` the batch file's drive
  and folder, ``%ERRORLEVEL%`` the last exit status and ``%NAME%`` an environment variable.
  Built-ins: ``@``, ``echo off``, ``echo TEXT``, ``chcp N``, ``cd /d DIR``, ``move /Y A B``.
* Paths: a backslash is a folder separator (mapped to ``/`` to reach this machine's files);
  words handed to a program are left as they are.

Exits with the command's status (9009, "not recognized", arrives as 9009 % 256 here); cmd's own
complaints go to stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the harness is daw.harness
from daw.harness import split_windows

OEM_CODE_PAGE = 850
SPECIAL = set('&<>()@^|')


class CmdError(Exception):
    pass


def native(path: str) -> str:
    return path.replace("\\", "/")


def first_word(line: str) -> tuple[str, str]:
    """CreateProcess's program word and the rest of the line."""
    line = line.lstrip(" \t")
    if line.startswith('"'):
        end = line.find('"', 1)
        end = len(line) if end < 0 else end
        return line[1:end], line[end + 1:]
    end = len(line)
    for i, c in enumerate(line):
        if c in " \t":
            end = i
            break
    return line[:end], line[end:]


def strip_c_quotes(rest: str, s_switch: bool) -> str:
    """cmd's quote rule for the text after /c."""
    rest = rest.lstrip(" \t")
    if not s_switch and rest.count('"') == 2 and rest.startswith('"'):
        inner = rest[1:rest.index('"', 1)]
        if (not SPECIAL & set(inner)) and any(c in " \t" for c in inner) and Path(native(inner)).is_file():
            return rest
    if rest.startswith('"'):
        last = rest.rfind('"')
        rest = rest[1:last] + rest[last + 1:] if last > 0 else rest[1:]
    return rest


def split_cmd(line: str) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """A cmd command line -> commands separated by unquoted '&', with redirections lifted out.
    Returns the command texts and, per command index, {fd: (mode, target)}."""
    commands, redirs = [], []
    cur, quoted, i, red = "", False, 0, {}
    while i < len(line):
        c = line[i]
        if c == '"':
            quoted = not quoted
            cur += c
            i += 1
            continue
        if not quoted and c == "&":
            commands.append(cur)
            redirs.append(red)
            cur, red = "", {}
            i += 1
            continue
        if not quoted and c in "<>":
            fd = "0" if c == "<" else "1"
            if c == ">" and cur.endswith(("1", "2")) and (len(cur) == 1 or cur[-2] in " \t"):
                fd, cur = cur[-1], cur[:-1]
            mode = "r" if fd == "0" else "w"
            i += 1
            if c == ">" and line[i:i + 1] == ">":
                mode, i = "a", i + 1
            target, i = _redirect_target(line, i)
            red[fd] = (mode, target)
            continue
        if not quoted and c in "|":
            raise CmdError("pipes are not emulated")
        cur += c
        i += 1
    commands.append(cur)
    redirs.append(red)
    return commands, redirs


def _redirect_target(line: str, i: int) -> tuple[str, int]:
    while i < len(line) and line[i] in " \t":
        i += 1
    if line[i:i + 1] == '"':
        end = line.find('"', i + 1)
        return line[i + 1:end], end + 1
    start = i
    while i < len(line) and line[i] not in " \t<>&|":
        i += 1
    return line[start:i], i


class Cmd:
    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.errorlevel = 0
        self.code_page = OEM_CODE_PAGE

    def open_target(self, target: str, mode: str):
        if target.lower() == "nul":
            return open(os.devnull, mode + "b")
        return open(os.path.join(self.cwd, native(target)), mode + "b")

    def run_line(self, line: str, batch: str | None = None) -> None:
        commands, redirs = split_cmd(line)
        for text, red in zip(commands, redirs):
            if text.strip():
                self.run_command(text.strip(), red, batch)

    def run_command(self, text: str, red: dict[str, tuple[str, str]], batch: str | None) -> None:
        if text.startswith("@"):
            text = text[1:].lstrip()
        word = text.split(None, 1)[0].lower()
        rest = text[len(word):].strip()
        files = {fd: self.open_target(t, m) for fd, (m, t) in red.items()}
        try:
            if word == "echo":
                if rest.lower() not in ("off", "on"):
                    out = files.get("1")
                    data = (rest + "\r\n").encode(self.encoding())
                    (out.write(data) if out else sys.stdout.buffer.write(data))
                return
            if word == "chcp":
                self.code_page = int(rest)
                return
            if word == "cd":
                path = rest[2:].strip() if rest.lower().startswith("/d") else rest
                path = native(path.strip('"'))
                target = os.path.join(self.cwd, path)
                if not os.path.isdir(target):
                    raise CmdError(f"The system cannot find the path specified: {path}")
                self.cwd = os.path.normpath(target)
                return
            if word == "move":
                args = split_windows(rest)
                args = [a for a in args if a.lower() != "/y"]
                os.replace(os.path.join(self.cwd, native(args[0])), os.path.join(self.cwd, native(args[1])))
                return
            self.errorlevel = self.start(text, files)
        finally:
            for fh in files.values():
                fh.close()

    def encoding(self) -> str:
        return "utf-8" if self.code_page == 65001 else f"cp{self.code_page}"

    def start(self, text: str, files: dict) -> int:
        """An external program: CreateProcess with the command's text as its command line."""
        program, _ = first_word(text)
        path = os.path.join(self.cwd, native(program))
        if not os.path.isfile(path):
            msg = f"'{program}' is not recognized as an internal or external command,\r\n"
            (files.get("2") or sys.stderr.buffer).write(msg.encode(self.encoding(), "replace"))
            return 9009
        if program.lower().endswith((".cmd", ".bat")):
            return self.batch(path, program)
        argv = [path] + split_windows(text)[1:]
        proc = subprocess.run(argv, cwd=self.cwd, stdin=files.get("0", subprocess.DEVNULL),
                              stdout=files.get("1"), stderr=files.get("2"), check=False)
        return proc.returncode

    def batch(self, path: str, as_given: str) -> int:
        """Run a batch file, decoding each line with the code page in force when it is read."""
        raw = Path(path).read_bytes()
        dp0 = as_given[:max(as_given.rfind("\\"), as_given.rfind("/")) + 1]
        for raw_line in raw.split(b"\n"):
            line = raw_line.rstrip(b"\r").decode(self.encoding(), "replace")
            self.run_line(self.expand(line, dp0, as_given))
        return self.errorlevel

    def expand(self, line: str, dp0: str, arg0: str) -> str:
        out, i = "", 0
        while i < len(line):
            c = line[i]
            if c != "%":
                out += c
                i += 1
            elif line[i:i + 2] == "%%":
                out, i = out + "%", i + 2
            elif line[i:i + 5] == "%~dp0":
                out, i = out + dp0, i + 5
            elif line[i:i + 2] == "%0":
                out, i = out + arg0, i + 2
            else:
                end = line.find("%", i + 1)
                if end < 0:
                    out, i = out + c, i + 1
                    continue
                name = line[i + 1:end]
                value = str(self.errorlevel) if name.upper() == "ERRORLEVEL" else os.environ.get(name, "")
                out, i = out + value, end + 1
        return out


def run(line: str) -> int:
    program, rest = first_word(line)
    cmd = Cmd()
    if os.path.basename(native(program)).lower() not in ("cmd", "cmd.exe"):
        return cmd.start(line.strip(), {})
    switches: set[str] = set()
    rest = rest.lstrip()
    while rest[:1] == "/" and rest[1:2].lower() != "c":
        switches.add(rest[1:2].lower())
        rest = rest[2:].lstrip()
    if rest[:2].lower() != "/c":
        raise CmdError("only cmd /c is emulated")
    command = strip_c_quotes(rest[2:], "s" in switches)
    cmd.run_line(command)
    return cmd.errorlevel


if __name__ == "__main__":
    try:
        sys.exit(run(Path(sys.argv[1]).read_text(encoding="utf-8")))
    except CmdError as exc:
        print(f"cmd: {exc}", file=sys.stderr)
        sys.exit(1)
