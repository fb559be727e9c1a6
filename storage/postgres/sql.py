"""SQL text from `storage/`'s portable spelling to psycopg's: `?` becomes `%s`, `:name` becomes
`%(name)s`, and a literal `%` becomes `%%`; string literals, quoted names, comments and `::` casts are
left as they are (apart from `%`). The rewrite is cached per SQL text."""

from functools import lru_cache


@lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """The psycopg spelling of one statement written for SQLite's placeholders."""
    out: list[str] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":  # a string literal or a quoted name: copied up to its closing quote
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # a doubled quote stays inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        elif ch == ":":
            if sql.startswith("::", i):  # a cast
                out.append("::")
                i += 2
                continue
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            if end > i + 1 and not sql[i + 1].isdigit():
                out.append(f"%({sql[i + 1 : end]})s")
                i = end
            else:
                out.append(ch)
                i += 1
        else:
            end = i + 1
            while end < n and sql[end] not in "'\"-?%:":
                end += 1
            out.append(sql[i:end])
            i = end
    return "".join(out)
