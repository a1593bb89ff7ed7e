"""Command-line parsing shared by the bench scripts (stdlib only, so that it runs before a script's own imports).

A bad command line gets one message that names the script, the option and what is allowed, then the usage, and
exit status 2; never a traceback, and no argument is silently ignored (docs/performance.md, "Benchmarks")."""
import os
import sys


def fail(usage, message):
    script = os.path.basename(sys.argv[0])
    print(f"{script}: {message}\nusage: {usage}", file=sys.stderr)
    sys.exit(2)


def parse(usage, flags=(), valued=None, repeated=(), build_dir=True, argv=None, positionals=None):
    """Returns {option: value} and, with build_dir, the positional BUILD_DIR (default "build").

    flags: options without a value (True when given). valued: {option: converter} of options with one value; an option
    in `repeated` collects a list. positionals: [(NAME, default)] in order, each returned under NAME (a default of None:
    required; build_dir is then ignored); without it, build_dir stands for [("BUILD_DIR", "build")], returned under
    "build". -h / --help prints the usage
    and exits 0."""
    valued = valued or {}
    args = sys.argv[1:] if argv is None else argv
    out = {f: False for f in flags}
    out.update({o: [] for o in repeated})
    legacy = positionals is None  # BUILD_DIR alone, returned under "build"
    if legacy:
        positionals = [("BUILD_DIR", "build")] if build_dir else []
    given = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            print(f"usage: {usage}")
            sys.exit(0)
        if a in flags:
            out[a] = True
        elif a in valued:
            if i + 1 >= len(args):
                fail(usage, f"option {a} needs a value")
            try:
                v = valued[a](args[i + 1])
            except (ValueError, TypeError) as e:
                fail(usage, f"option {a}: '{args[i + 1]}' is not allowed ({e})")
            if a in repeated:
                out[a].append(v)
            else:
                out[a] = v
            i += 1
        elif a.startswith("-"):
            allowed = ", ".join(sorted(set(flags) | set(valued)) + ["-h/--help"])
            fail(usage, f"unknown option '{a}' (allowed: {allowed})")
        elif len(given) < len(positionals):
            given.append(a)
        else:
            names = " and ".join(n for n, _ in positionals)
            fail(usage, f"unexpected argument '{a}'" + (f" ({names} {'was' if len(positionals) == 1 else 'were'} already "
                                                         "given)" if positionals else ""))
        i += 1
    for k, (name, default) in enumerate(positionals):
        value = given[k] if k < len(given) else default
        if value is None:
            fail(usage, f"name the {name}")
        out["build" if legacy else name] = value
    return out


def lcsim_binary(usage, root, build):
    """The lcsim binary of BUILD_DIR (relative to the repository root unless absolute); a clear error if it is not built."""
    path = os.path.join(root, build, "apps", "lcsim")
    if not os.access(path, os.X_OK):
        fail(usage, f"BUILD_DIR '{build}' has no apps/lcsim ({path}): build first (make build), or name the build directory")
    return path


def positive_int(text):
    v = int(text)
    if v < 1:
        raise ValueError("expected a whole number of at least 1")
    return v
