"""The catalog's LaTeX formulas as readable Unicode text, for terminals and docstrings.

The registry keeps every formula in LaTeX (the docs site typesets it); ``losskit show`` and
``help(lk.huber)`` print it through :func:`latex_to_text`, which knows the subset of LaTeX the
catalog writes: fractions, scripts, Greek letters, operators, ``cases``, delimiters and text.

>>> from losskit._formula import latex_to_text
>>> latex_to_text(r"\\ell = \\begin{cases}\\tfrac12 e^2 & |e|\\le\\delta\\\\ \\delta(|e| - \\tfrac12\\delta) & |e|>\\delta\\end{cases}")
'ℓ = ½e² if |e| ≤ δ, else δ(|e| − ½δ)'
>>> latex_to_text(r"\\partial\\ell/\\partial\\hat y = \\frac{e}{\\sqrt{1 + (e/\\delta)^2}}")
'∂ℓ/∂ŷ = e/√(1 + (e/δ)²)'

Pure Python (no NumPy): the docstrings of the catalog are built with it at import time.
Math-mode spacing follows TeX's classes: binary operators and relations get a space on each
side, a comma a space after it, function names (log, max) a space where they meet a variable;
the source's own spaces are ignored, as TeX ignores them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["latex_to_text"]

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "varpi": "ϖ", "rho": "ρ",
    "varrho": "ϱ", "sigma": "σ", "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_SYMBOLS = {  # ordinary symbols
    "ell": "ℓ", "infty": "∞", "top": "⊤", "prime": "′", "emptyset": "∅", "hbar": "ℏ",
    "dots": "…", "ldots": "…", "cdots": "⋯", "dagger": "†", "star": "⋆", "forall": "∀",
    "exists": "∃", "neg": "¬", "lnot": "¬", "Re": "ℜ", "Im": "ℑ", "aleph": "ℵ",
    "_": "_", "%": "%", "#": "#", "$": "$", "&": "&",
}
_PREFIXES = {"partial": "∂", "nabla": "∇"}  # glued to what follows: ∂ℓ, ∇f
_BINARY = {
    "times": "×", "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "pm": "±", "mp": "∓",
    "setminus": "∖", "ast": "∗", "circ": "∘", "div": "÷", "cup": "∪", "cap": "∩",
    "wedge": "∧", "vee": "∨", "land": "∧", "lor": "∨",
}
_TIGHT_BINARY = {"cdot": "·", "bullet": "•"}  # a product dot reads best without spaces
_RELATIONS = {
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "in": "∈",
    "notin": "∉", "approx": "≈", "sim": "∼", "simeq": "≃", "equiv": "≡", "propto": "∝",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "gets": "←", "mapsto": "↦",
    "Rightarrow": "⇒", "implies": "⟹", "iff": "⟺", "subset": "⊂", "subseteq": "⊆",
    "supset": "⊃", "supseteq": "⊇", "ll": "≪", "gg": "≫", "coloneqq": "≔", "mid": "|",
    "lt": "<", "gt": ">",
}
_FUNCTIONS = {
    "log", "ln", "lg", "exp", "max", "min", "sup", "inf", "arg", "lim", "det", "dim", "ker",
    "deg", "gcd", "Pr", "sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh",
    "coth", "arcsin", "arccos", "arctan", "liminf", "limsup",
}
_BIG_OPERATORS = {"sum": "Σ", "prod": "Π", "coprod": "∐", "int": "∫", "oint": "∮",
                  "bigcup": "⋃", "bigcap": "⋂"}
_OPENING = {"langle": "⟨", "lfloor": "⌊", "lceil": "⌈", "lbrace": "{", "{": "{", "lbrack": "["}
_CLOSING = {"rangle": "⟩", "rfloor": "⌋", "rceil": "⌉", "rbrace": "}", "}": "}", "rbrack": "]"}
_BARS = {"lvert": ("|", "open"), "rvert": ("|", "close"), "lVert": ("‖", "open"),
         "rVert": ("‖", "close"), "vert": ("|", "bar"), "Vert": ("‖", "bar"), "|": ("‖", "bar")}
_SIZES = {"left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
          "biggl", "biggr", "Biggl", "Biggr", "bigm", "Bigm"}
_IGNORED = {"textstyle", "displaystyle", "scriptstyle", "scriptscriptstyle", "limits", "nolimits",
            "nonumber", "notag", "!", "strut", "allowbreak", "relax"}
_SPACES = {" ", ";", ":", ">", "quad", "qquad", "enspace", "enskip", "space", "thickspace",
           "medspace"}
_THIN = {",", "thinspace"}
_STYLES = {"mathbf", "mathit", "mathsf", "mathtt", "mathnormal", "boldsymbol", "bm", "pmb",
           "mathscr", "mathfrak"}
_UPRIGHT = {"mathrm", "mathup", "rm"}
_TEXTS = {"text", "textrm", "textit", "textbf", "textsf", "texttt", "textup", "textnormal", "mbox", "hbox"}
_FRACTIONS = {"frac", "tfrac", "dfrac", "cfrac"}
_ACCENTS = {
    "hat": "\u0302", "widehat": "\u0302", "tilde": "\u0303", "widetilde": "\u0303",
    "bar": "\u0304", "overline": "\u0305", "vec": "\u20d7", "dot": "\u0307", "ddot": "\u0308",
    "check": "\u030c", "breve": "\u0306", "acute": "\u0301", "grave": "\u0300",
}
_BLACKBOARD = {"1": "𝟙", "R": "ℝ", "E": "𝔼", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "P": "ℙ"}
_CALLIGRAPHIC = {"L": "ℒ", "N": "𝒩", "O": "𝒪", "D": "𝒟", "H": "ℋ", "F": "ℱ", "E": "ℰ", "B": "ℬ"}
_VULGAR = {("1", "2"): "½", ("1", "3"): "⅓", ("2", "3"): "⅔", ("1", "4"): "¼", ("3", "4"): "¾",
           ("1", "5"): "⅕", ("2", "5"): "⅖", ("3", "5"): "⅗", ("4", "5"): "⅘", ("1", "6"): "⅙",
           ("5", "6"): "⅚", ("1", "7"): "⅐", ("1", "8"): "⅛", ("3", "8"): "⅜", ("5", "8"): "⅝",
           ("7", "8"): "⅞", ("1", "9"): "⅑", ("1", "10"): "⅒"}
_SUPERSCRIPTS = dict(zip(
    "0123456789+−=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWαβγδεθιφχ⊤",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵅᵝᵞᵟᵋᶿᶥᵠᵡᵀ",
))
_SUBSCRIPTS = dict(zip("0123456789+−=()aehijklmnoprstuvxβγρφχ", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ"))
# Superscripts written as themselves: x*, x′, xᵀ.
_SUPERSCRIPT_AS_IS = {"*": "*", "∗": "*", "′": "′", "′′": "″", "⊤": "ᵀ", "†": "†"}

_TOKEN = re.compile(r"\\([A-Za-z]+)(\s*)|\\(.)|(\s+)|(.)", re.S)


@dataclass
class _Atom:
    """A piece of rendered text with its TeX class, which decides the spacing around it.

    cls: ord, prefix, word, op, bin, rel, punct, open, close, bar, space, thin, text, inner.
    """

    cls: str
    text: str
    kind: str = ""  # "num", "frac", "cases", "tight" (a product dot)
    big: bool = False  # a big operator or a function with a subscript: Σᵢ, max_c
    fallback: bool = False  # a script had to be spelt with _ or ^
    tail: bool = False  # the text ends with such a script: a following letter needs a space


class _UnknownCommand(ValueError):
    pass


class _Parser:
    def __init__(self, latex: str, strict: bool):
        self.tokens = [self._token(m) for m in _TOKEN.finditer(latex)]
        self.pos = 0
        self.strict = strict

    @staticmethod
    def _token(m: re.Match) -> tuple[str, str, str]:
        if m.group(1) is not None:
            return "cmd", m.group(1), m.group(2)
        if m.group(3) is not None:
            return "cmd", m.group(3), ""
        if m.group(4) is not None:
            return "ws", m.group(4), ""
        return "char", m.group(5), ""

    # ------------------------------------------------------------------------------ reading

    def peek(self) -> tuple[str, str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def skip_ws(self) -> None:
        while self.peek() is not None and self.peek()[0] == "ws":
            self.pos += 1

    def raw_group(self) -> str:
        """The source text of a ``{...}`` argument (or of one token)."""
        self.skip_ws()
        token = self.peek()
        if token is None:
            return ""
        self.pos += 1
        if token != ("char", "{", ""):
            return token[1]
        depth, parts = 1, []
        while self.peek() is not None:
            kind, value, trailing = self.tokens[self.pos]
            self.pos += 1
            if kind == "char" and value in "{}":
                depth += 1 if value == "{" else -1
                if depth == 0:
                    break
            parts.append(("\\" + value + trailing) if kind == "cmd" else value)
        return "".join(parts)

    def text_group(self) -> str:
        """A ``\\text{...}`` argument: its characters as written, escapes resolved."""
        self.skip_ws()
        token = self.peek()
        if token is None:
            return ""
        self.pos += 1
        if token != ("char", "{", ""):
            return token[1]
        depth, parts = 1, []
        while self.peek() is not None:
            kind, value, trailing = self.tokens[self.pos]
            self.pos += 1
            if kind == "char" and value in "{}":
                depth += 1 if value == "{" else -1
                if depth == 0:
                    break
                continue
            if kind == "cmd":
                if value in ("\\", " ", "quad", "qquad", ",", ";"):
                    parts.append(" ")
                elif len(value) == 1 and not value.isalpha():
                    parts.append(value)  # \_ \% \& \{ \}
                else:
                    parts.append(GREEK.get(value) or _SYMBOLS.get(value) or value)
                parts.append(trailing)
            elif kind == "ws":
                parts.append(" ")
            elif value != "$":
                parts.append(value)
        return "".join(parts)

    def argument(self) -> list[_Atom]:
        """A command's argument: a ``{...}`` group or a single token."""
        self.skip_ws()
        token = self.peek()
        if token is None:
            return []
        if token == ("char", "{", ""):
            self.pos += 1
            atoms, _ = self.sequence({"}"})
            return atoms
        atoms: list[_Atom] = []
        self.pos += 1
        self.handle(token, atoms)
        return atoms

    # ------------------------------------------------------------------------------ parsing

    def sequence(self, stops: set[str]) -> tuple[list[_Atom], str | None]:
        """Atoms up to one of ``stops`` ("}", "&", "\\\\", "end"), which is consumed and returned."""
        atoms: list[_Atom] = []
        while self.peek() is not None:
            token = self.tokens[self.pos]
            self.pos += 1
            kind, value, _ = token
            if kind == "char" and value == "}" and "}" in stops:
                return atoms, "}"
            if kind == "char" and value == "&" and "&" in stops:
                return atoms, "&"
            if kind == "cmd" and value == "\\" and "\\" in stops:
                return atoms, "\\"
            if kind == "cmd" and value == "end" and "end" in stops:
                self.raw_group()
                return atoms, "end"
            self.handle(token, atoms)
        return atoms, None

    def handle(self, token: tuple[str, str, str], atoms: list[_Atom]) -> None:
        kind, value, _ = token
        if kind == "ws":
            return
        if kind == "char":
            self.char(value, atoms)
        else:
            self.command(value, atoms)

    def char(self, c: str, atoms: list[_Atom]) -> None:
        if c == "{":
            inner, _ = self.sequence({"}"})
            atoms.extend(inner)
        elif c == "}":
            pass  # an unbalanced brace: nothing to show
        elif c in "^_":
            self.script(atoms, superscript=c == "^")
        elif c.isdigit() or (c == "." and atoms and atoms[-1].kind == "num" and not atoms[-1].fallback):
            last = atoms[-1] if atoms else None
            if last is not None and last.kind == "num" and last.text[-1:] in "0123456789.":
                last.text += c
            else:
                atoms.append(_Atom("ord", c, kind="num"))
        elif c in "+-*":
            atoms.append(_Atom("bin", {"-": "−", "*": "∗"}.get(c, c)))
        elif c in "=<>":
            atoms.append(_Atom("rel", c))
        elif c in ",;:":
            atoms.append(_Atom("punct", c))
        elif c in "([":
            atoms.append(_Atom("open", c))
        elif c in ")]":
            atoms.append(_Atom("close", c))
        elif c == "|":
            atoms.append(_Atom("bar", "|"))
        elif c == "'":
            self.attach(atoms, "′", superscript=True)
        elif c == "~":
            atoms.append(_Atom("space", " "))
        elif c == "&":
            pass  # an alignment point outside an environment
        else:
            atoms.append(_Atom("ord", c))

    def command(self, name: str, atoms: list[_Atom]) -> None:
        if name in GREEK or name in _SYMBOLS:
            atoms.append(_Atom("ord", GREEK.get(name) or _SYMBOLS[name]))
        elif name in _PREFIXES:
            atoms.append(_Atom("prefix", _PREFIXES[name]))
        elif name in _BINARY:
            atoms.append(_Atom("bin", _BINARY[name]))
        elif name in _TIGHT_BINARY:
            atoms.append(_Atom("bin", _TIGHT_BINARY[name], kind="tight"))
        elif name in _RELATIONS:
            atoms.append(_Atom("rel", _RELATIONS[name]))
        elif name in _FUNCTIONS:
            atoms.append(_Atom("op", name))
        elif name in _BIG_OPERATORS:
            atoms.append(_Atom("op", _BIG_OPERATORS[name], big=True))
        elif name in _OPENING:
            atoms.append(_Atom("open", _OPENING[name]))
        elif name in _CLOSING:
            atoms.append(_Atom("close", _CLOSING[name]))
        elif name in _BARS:
            text, cls = _BARS[name]
            atoms.append(_Atom(cls, text))
        elif name in _SIZES:
            self.delimiter(name, atoms)
        elif name in _IGNORED:
            pass
        elif name in _SPACES:
            atoms.append(_Atom("space", " "))
        elif name in _THIN:
            atoms.append(_Atom("thin", ""))
        elif name == "\\":
            atoms.append(_Atom("punct", ";"))
        elif name in _STYLES:
            atoms.extend(self.argument())
        elif name in _UPRIGHT:
            inner = self.argument()
            if len(inner) > 1 and all(a.cls == "ord" and a.text.isalpha() for a in inner):
                atoms.append(_Atom("word", "".join(a.text for a in inner)))
            else:
                atoms.extend(inner)
        elif name in ("operatorname", "operatornamewithlimits"):
            if self.peek() == ("char", "*", ""):
                self.pos += 1
            inner = self.argument()
            text = "".join(" " if a.cls in ("thin", "space") else a.text for a in inner)
            atoms.append(_Atom("op", text))
        elif name in _TEXTS:
            atoms.append(_Atom("text", self.text_group()))
        elif name in _FRACTIONS:
            self.fraction(atoms)
        elif name == "binom":
            n, k = join(self.argument()), join(self.argument())
            atoms.append(_Atom("ord", f"C({n}, {k})"))
        elif name == "sqrt":
            self.root(atoms)
        elif name in _ACCENTS:
            self.accent(_ACCENTS[name], atoms)
        elif name == "mathbb":
            inner = self.raw_group()
            atoms.append(_Atom("ord", "".join(_BLACKBOARD.get(c, c) for c in inner)))
        elif name == "mathcal":
            inner = self.raw_group()
            atoms.append(_Atom("ord", "".join(_CALLIGRAPHIC.get(c, c) for c in inner)))
        elif name == "begin":
            self.environment(self.raw_group().strip(), atoms)
        elif name == "end":
            self.raw_group()
        elif name in ("not",):
            pass
        elif len(name) == 1 and not name.isalpha():
            atoms.append(_Atom("ord", name))  # \{ handled above; \$ \& ...
        elif self.strict:
            raise _UnknownCommand(f"no Unicode rendering for \\{name}")
        else:
            atoms.append(_Atom("word", name))

    # ------------------------------------------------------------------------------ pieces

    def delimiter(self, size: str, atoms: list[_Atom]) -> None:
        """``\\left(``, ``\\right.``, ``\\big|``: the delimiter alone (or nothing for ``.``)."""
        self.skip_ws()
        token = self.peek()
        if token is None:
            return
        kind, value, _ = token
        if kind == "char" and value == ".":
            self.pos += 1
            return
        side = "open" if size in ("left", "bigl", "Bigl", "biggl", "Biggl") else (
            "close" if size in ("right", "bigr", "Bigr", "biggr", "Biggr") else "")
        bar = (kind == "char" and value == "|") or (kind == "cmd" and value in ("vert", "Vert", "|"))
        if side and bar:
            self.pos += 1
            atoms.append(_Atom(side, "|" if kind == "char" or value == "vert" else "‖"))

    def script(self, atoms: list[_Atom], superscript: bool) -> None:
        self.attach(atoms, join(self.argument()), superscript)

    @staticmethod
    def attach(atoms: list[_Atom], text: str, superscript: bool) -> None:
        if not atoms or atoms[-1].cls in ("space", "thin", "bin", "rel", "punct", "open"):
            atoms.append(_Atom("ord", ""))
        base = atoms[-1]
        compact = text.replace(" ", "")
        if superscript and compact in _SUPERSCRIPT_AS_IS:
            base.text += _SUPERSCRIPT_AS_IS[compact]
            base.tail = False
            return
        table = _SUPERSCRIPTS if superscript else _SUBSCRIPTS
        if compact and not base.fallback and all(c in table for c in compact):
            base.text += "".join(table[c] for c in compact)
            base.tail = False
        else:
            marker = "^" if superscript else "_"
            # Letters and digits may follow the marker bare (ℓ_nc, x^q); anything else, scripts
            # included, goes in parentheses (e^(x_c), e^(−2|e|)).
            plain = all(unicodedata.category(c) in ("Ll", "Lu", "Lo", "Nd") or c in "*′"
                        or unicodedata.combining(c) for c in compact)
            base.text += marker + (compact if plain and compact else f"({text})")
            base.fallback, base.tail = True, plain
        if base.cls == "op":
            base.big = True  # Σᵢ, max_c: a space before what it ranges over

    def fraction(self, atoms: list[_Atom]) -> None:
        numerator, denominator = self.argument(), self.argument()
        top, bottom = join(numerator), join(denominator)
        if (top, bottom) in _VULGAR:
            text = _VULGAR[(top, bottom)]
        else:
            text = (top if _simple_numerator(numerator) else f"({top})") + "/" + (
                bottom if _single_factor(denominator) else f"({bottom})")
        if atoms and atoms[-1].cls == "op" and not atoms[-1].big and "/" in text:
            text = f"({text})"  # log(ŷ/y), not log ŷ/y
        atoms.append(_Atom("ord", text, kind="frac"))

    def root(self, atoms: list[_Atom]) -> None:
        self.skip_ws()
        index = ""
        if self.peek() == ("char", "[", ""):
            self.pos += 1
            raw = []
            while self.peek() is not None and self.peek() != ("char", "]", ""):
                kind, value, trailing = self.tokens[self.pos]
                raw.append(("\\" + value + trailing) if kind == "cmd" else value)
                self.pos += 1
            self.pos += 1
            index = latex_to_text("".join(raw), strict=self.strict)
        inner = self.argument()
        text = join(inner)
        sign = {"": "√", "2": "√", "3": "∛", "4": "∜"}.get(index)
        if sign is None:
            sign = ("".join(_SUPERSCRIPTS[c] for c in index) if all(c in _SUPERSCRIPTS for c in index)
                    else f"({index})") + "√"
        atoms.append(_Atom("ord", sign + (text if _single_factor(inner) else f"({text})")))

    def accent(self, mark: str, atoms: list[_Atom]) -> None:
        inner = self.argument()
        if len(inner) == 1 and inner[0].text:
            inner[0].text = inner[0].text[0] + mark + inner[0].text[1:]
            atoms.append(inner[0])
        else:
            text = join(inner)
            atoms.append(_Atom("ord", (text[0] + mark + text[1:]) if len(text) == 1 else f"({text}){mark}"))

    def environment(self, name: str, atoms: list[_Atom]) -> None:
        if name in ("array", "tabular"):
            self.raw_group()  # the column specification
        rows: list[list[str]] = [[]]
        while True:
            cell, stop = self.sequence({"&", "\\", "end"})
            rows[-1].append(join(cell))
            if stop == "\\":
                rows.append([])
            elif stop != "&":
                break
        rows = [row for row in rows if any(cell for cell in row)]
        if name.rstrip("*") in ("cases", "dcases", "rcases"):
            pieces = []
            for i, row in enumerate(rows):
                value, condition = row[0], ", ".join(c for c in row[1:] if c)
                if i == len(rows) - 1 and len(rows) > 1:
                    pieces.append(f"else {value}")
                else:
                    pieces.append(f"{value} if {condition}" if condition else value)
            atoms.append(_Atom("inner", ", ".join(pieces), kind="cases"))
        elif name.endswith("matrix") or name == "array":
            atoms.append(_Atom("inner", "[" + "; ".join(", ".join(row) for row in rows) + "]"))
        else:  # aligned, gathered, split: the rows one after another
            atoms.append(_Atom("inner", "; ".join("".join(row) for row in rows)))


# ---------------------------------------------------------------------------------- analysis

def _top_level(atoms: list[_Atom]):
    """The atoms outside every bracket, each with whether it opens a bracketed group."""
    depth = 0
    for atom in _resolve_bars([a for a in atoms if a.cls not in ("space", "thin")]):
        if atom.cls == "open":
            if depth == 0:
                yield atom
            depth += 1
        elif atom.cls == "close":
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield atom


def _is_slash(atom: _Atom) -> bool:
    """A slash at this level: ``/`` itself, or a fraction not already in brackets."""
    return atom.text == "/" or (atom.kind == "frac" and "/" in atom.text and not atom.text.startswith("("))


def _simple_numerator(atoms: list[_Atom]) -> bool:
    """A product of factors, which reads right before a slash: 2(e/c)², σ(x)(1 − σ(x))."""
    if any(a.cls == "space" for a in atoms):
        return False
    top = list(_top_level(atoms))
    for i, atom in enumerate(top):
        if atom.cls in ("bin", "rel", "punct", "word", "inner") or (atom.cls == "op" and atom.big):
            return False
        if atom.cls == "op" and not (i + 1 < len(top) and top[i + 1].cls == "open"):
            return False  # log p/q would read as log(p/q)
        if _is_slash(atom) or (atom.cls == "text" and " " in atom.text.strip()):
            return False
    return True


def _single_factor(atoms: list[_Atom]) -> bool:
    """One symbol, number or bracketed group (scripts allowed): safe after a slash unbracketed."""
    factors, glued = 0, False
    for atom in _top_level(atoms):
        if atom.cls in ("bin", "rel", "punct", "inner") or (atom.cls == "op" and atom.big):
            return False
        if _is_slash(atom):
            return False
        if not glued:
            factors += 1
        glued = atom.cls in ("op", "prefix")  # max(...), ∂x: one factor with what follows
    return factors == 1


def _resolve_bars(atoms: list[_Atom]) -> list[_Atom]:
    """Give each ``|`` and ``‖`` its side: the first of a pair opens, the second closes."""
    open_bars: list[str] = []
    resolved = []
    for atom in atoms:
        if atom.cls == "bar":
            if open_bars and open_bars[-1] == atom.text[0]:
                open_bars.pop()
                atom = _Atom("close", atom.text, fallback=atom.fallback, tail=atom.tail)
            else:
                open_bars.append(atom.text[0])
                atom = _Atom("open", atom.text, fallback=atom.fallback, tail=atom.tail)
        elif atom.cls == "open" and atom.text[:1] in "|‖":
            open_bars.append(atom.text[0])
        elif atom.cls == "close" and atom.text[:1] in "|‖" and open_bars and open_bars[-1] == atom.text[0]:
            open_bars.pop()
        resolved.append(atom)
    return resolved


_AFTER_WHICH_UNARY = ("bin", "rel", "punct", "open", "op")


def join(atoms: list[_Atom]) -> str:
    """The atoms as text, spaced as TeX spaces its classes."""
    atoms = _resolve_bars(atoms)
    visible = [a for a in atoms if a.cls not in ("space", "thin")]
    # A sign (−y, +½) is an ordinary symbol, not a binary operator.
    previous = None
    for atom in visible:
        if atom.cls == "bin" and (previous is None or previous.cls in _AFTER_WHICH_UNARY
                                  or (previous.cls == "text" and previous.text.endswith(" "))):
            atom.cls, atom.kind = "ord", "sign"
        previous = atom
    # Cases stand bare as the whole right-hand side (ℓ = A if c, else B), in parentheses elsewhere.
    for i, atom in enumerate(visible):
        if atom.kind == "cases":
            before = visible[i - 1] if i else None
            after = visible[i + 1] if i + 1 < len(visible) else None
            if not ((before is None or before.cls == "rel") and (after is None or after.cls == "punct")):
                atom.text, atom.kind = f"({atom.text})", ""
    out: list[str] = []
    previous, space = None, False
    for i, atom in enumerate(atoms):
        if atom.cls == "space":
            space = True
            continue
        if atom.cls == "thin":
            # \, before a word (… (1 − pₜ)ᵞ CE(y, x)) keeps the words apart; elsewhere it is nothing.
            following = next((a for a in atoms[i + 1:] if a.cls not in ("space", "thin")), None)
            if (following is not None and following.cls == "word" and previous is not None
                    and previous.cls not in ("prefix", "open", "bin", "rel")):
                space = True
            continue
        gap = _gap(previous, atom)
        out.append((" " if space and not gap and previous is not None else gap) + atom.text)
        previous, space = atom, False
    text = re.sub(r" {2,}", " ", "".join(out))
    text = re.sub(r"([(\[]) ", r"\1", text)
    return re.sub(r" ([)\],;])", r"\1", text).strip()


def _gap(previous: _Atom | None, atom: _Atom) -> str:
    if previous is None:
        return ""
    spaced = ("bin", "rel")
    if (atom.cls in spaced and atom.kind != "tight") or (previous.cls in spaced and previous.kind != "tight"):
        return " "
    if atom.cls == "bin" or previous.cls == "bin":
        return ""
    if atom.cls == "punct":
        return ""
    if previous.cls == "punct":
        return "" if atom.cls == "close" else " "
    if atom.cls == "op":
        if previous.kind == "sign" or previous.text.endswith("/"):
            return ""  # −log p, x/max(|y|, ε)
        return " " if previous.cls in ("ord", "close", "op", "word", "text", "inner") else ""
    if previous.cls == "op":
        if atom.cls in ("close",):
            return ""
        if previous.big:
            return " "
        return " " if atom.cls in ("ord", "word", "prefix", "text", "inner") and not atom.text.startswith("(") else ""
    if previous.tail and (atom.text[:1].isalnum()):
        return " "  # w_c y_c, not w_cy_c
    if atom.cls == "word" and previous.cls == "word":
        return " "
    return ""


# ------------------------------------------------------------------------------------ public

def latex_to_text(latex: str, *, strict: bool = False) -> str:
    """``latex`` (a catalog formula) as Unicode text for a terminal or a docstring.

    With ``strict=True`` a command it has no rendering for raises ``ValueError``; otherwise the
    command's name is shown without its backslash, so the text is always readable.
    """
    try:
        atoms, _ = _Parser(latex, strict).sequence(set())
        # Composed where Unicode has the letter (ŷ, ñ, ṽ); x̂ keeps its combining hat.
        return unicodedata.normalize("NFC", join(atoms))
    except _UnknownCommand:
        raise
    except Exception:  # pragma: no cover - a formula outside the subset: show it plainly
        if strict:
            raise
        return re.sub(r"\\([A-Za-z]+)", r"\1", latex).replace("\\", "").replace("{", "").replace("}", "")
