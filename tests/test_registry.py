"""The formula registry object, and counting ops convcost has no formula for.

A ``torch.library`` custom op (``convcost_registry_test::cube``, x·x·x) is first reported in
``unsupported_ops``; then counted exactly with a per-analysis override
(``analyze(..., formulas=...)``) and with ``register_formula`` (every later analysis).
Expected counts are literals with their arithmetic in comments.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

torch = importlib.import_module("torch")

from torch import nn  # noqa: E402

from convcost import analyze, analyze_conv, conv_spec  # noqa: E402
from convcost.cost import Cost  # noqa: E402
from convcost.errors import SpecError  # noqa: E402
from convcost.formulas.catalog import (  # noqa: E402
    FORMULA_MODULES,
    default_registry,
    formula_registry,
    register_formula,
)
from convcost.formulas.registry import FormulaRegistry, canonical_op_name  # noqa: E402
from convcost.formulas.traffic import traffic  # noqa: E402
from convcost.ops import OpCall, OpCost, TensorMeta  # noqa: E402

OP = "convcost_registry_test::cube"


@torch.library.custom_op(OP, mutates_args=())
def _cube(x: torch.Tensor) -> torch.Tensor:
    return x * x * x


@_cube.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Cubed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cube(self.conv(x))


INPUT = (2, 3, 5, 5)
#: the convolution alone (checked against brute force in test_conv_exact.py)
CONV = analyze_conv(conv_spec(3, 4, (5, 5), 1, batch=2)).forward
#: plus the cube of the conv's 2·4·5·5 = 200 outputs: 2 mults each = 400 mults
CUBED = CONV + Cost(mults=400)


def cube(call: OpCall, counting: str) -> OpCost:
    """forward: x·x·x, 2 mults per element; backward: none (inference only)."""
    x = call["x"]  # the custom op's schema names its argument ``x``
    assert isinstance(x, TensorMeta)
    return OpCost(Cost(mults=2 * x.numel))


def one_add(call: OpCall, counting: str) -> OpCost:
    """forward: 1 add; backward: none."""
    return OpCost(Cost(adds=1))


def infer(**kw: Any) -> Any:
    return analyze(Cubed(), INPUT, mode="inference", **kw)


@pytest.fixture
def fresh_default() -> Iterator[None]:
    """A default registry of its own for a test that registers formulas in it."""
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()


# --------------------------------------------------------------------------- custom ops


def test_custom_op_without_formula_is_unsupported() -> None:
    r = infer()
    assert r.unsupported_ops == ((f"{OP}.default", 1),)
    assert r.totals.forward == CONV  # not counted, and said so
    assert default_registry().lookup(f"{OP}.default") is None


@pytest.mark.parametrize("name", [OP, f"{OP}.default", "convcost_registry_test.cube.default"])
def test_formulas_override_counts_the_op_in_that_analysis_only(name: str) -> None:
    r = infer(formulas={name: cube})
    assert r.unsupported_ops == () and r.formula_errors == ()
    assert r.totals.forward == CUBED
    row = next(o for o in r.ops if o.name == f"{OP}.default")
    # 400 mults; read 200 fp32 = 800 B, written 800 B
    assert (row.cost, row.read, row.written) == (Cost(mults=400), 800, 800)
    # the next analysis without the override is back to the default registry
    assert infer().unsupported_ops == ((f"{OP}.default", 1),)
    assert default_registry().lookup(f"{OP}.default") is None


def test_register_formula_counts_the_op_in_every_later_analysis(fresh_default: None) -> None:
    assert register_formula(OP, cube) is cube
    assert infer().totals.forward == CUBED
    assert infer(counting="skip-padding").totals.forward.mults == CUBED.mults
    # an override still wins for one analysis: the cube becomes 1 add
    assert infer(formulas={f"{OP}.default": one_add}).totals.forward == CONV + Cost(adds=1)
    assert infer().totals.forward == CUBED
    # registering the op again is an error naming the parameter; replace=True replaces
    with pytest.raises(SpecError, match=r"^names: got 'convcost_registry_test::cube'; "
                                        r"registered once"):
        register_formula(OP, one_add)
    register_formula(OP, one_add, replace=True)
    assert infer().totals.forward == CONV + Cost(adds=1)


def test_register_formula_as_a_decorator_and_for_builtin_ops(fresh_default: None) -> None:
    @register_formula(["aten::logit", OP])
    def free(call: OpCall, counting: str) -> OpCost:
        """forward: 0; backward: none."""
        return OpCost(Cost())

    assert default_registry().lookup("logit.default") is free
    assert infer().totals.forward == CONV
    with pytest.raises(SpecError, match=r"^names: got 'mm'"):
        register_formula("mm", free)  # a built-in formula is not replaced silently


@pytest.mark.parametrize("name", ["add.Tensor", "aten::addmm.default", "view.default",
                                  "aten.add.Tensor", "add", "aten::add", "convolution"])
def test_register_formula_refuses_every_spelling_of_a_builtin(fresh_default: None,
                                                               name: str) -> None:
    def free(call: OpCall, counting: str) -> OpCost:
        """forward: 0; backward: none."""
        return OpCost(Cost())

    with pytest.raises(SpecError, match=r"^names: got .*registered once.*replace=True"):
        register_formula(name, free)
    # nothing was registered: x + x still costs its 2·3 = 6 adds
    r = analyze(Add(), (2, 3), mode="inference")
    assert r.totals.forward == Cost(adds=6)


def test_register_formula_replaces_one_overload_with_replace(fresh_default: None) -> None:
    register_formula("add.Tensor", one_add, replace=True)
    assert analyze(Add(), (2, 3), mode="inference").totals.forward == Cost(adds=1)
    assert default_registry().lookup("add.Scalar") is not one_add  # other overloads kept


@pytest.mark.parametrize("bad", [123, None, 2.5, b"add", {"add": 1}])
def test_register_formula_bad_names_is_a_value_error(bad: Any) -> None:
    with pytest.raises(SpecError, match=r"^names: got ") as ei:
        register_formula(bad, one_add)
    assert isinstance(ei.value, ValueError) and ei.value.field == "names"


@pytest.mark.parametrize(("cost", "needle"), [
    (Cost(mults=-1), "mults=-1"), (Cost(adds=2.5), "adds=2.5"),  # type: ignore[arg-type]
    (Cost(macs=True), "macs=True"),  # type: ignore[arg-type]
])
def test_negative_or_float_counts_are_refused_naming_the_op(cost: Cost, needle: str) -> None:
    def bad(call: OpCall, counting: str) -> OpCost:
        return OpCost(cost)

    with pytest.raises(SpecError) as ei:
        infer(formulas={OP: bad})
    assert ei.value.field == "formula" and ei.value.value == f"{OP}.default"
    assert needle in str(ei.value) and "\n" not in str(ei.value)
    part = OpCost(Cost(mults=1), parts=(("grad_input", cost),))
    with pytest.raises(SpecError, match="grad_input"):
        infer(formulas={OP: lambda call, counting: part})


class Add(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


def test_override_of_an_aten_op_replaces_its_decomposition() -> None:
    class Logit(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.logit(x, eps=1e-6)

    plain = analyze(Logit(), (2, 5), mode="inference")
    assert dict(plain.decomposed_ops) == {"logit.default": 1}  # no formula: decomposed
    r = analyze(Logit(), (2, 5), mode="inference", formulas={"logit": one_add})
    assert r.decomposed_ops == () and r.totals.forward == Cost(adds=1)
    conv = analyze(nn.Conv2d(3, 4, 1), INPUT, mode="inference",
                   formulas={"convolution.default": one_add})
    assert conv.totals.forward == Cost(adds=1)


def test_failing_or_wrong_formulas_are_reported_not_counted() -> None:
    def broken(call: OpCall, counting: str) -> OpCost:
        """forward: fails; backward: none."""
        raise ValueError("no idea")

    def not_an_opcost(call: OpCall, counting: str) -> Any:
        return Cost(mults=1)

    r = infer(formulas={OP: broken})
    assert r.unsupported_ops == ((f"{OP}.default", 1),) and r.totals.forward == CONV
    assert dict(r.formula_errors) == {f"{OP}.default": "ValueError: no idea"}
    r = infer(formulas={OP: not_an_opcost})
    assert dict(r.formula_errors) == {
        f"{OP}.default": "TypeError: the formula returned Cost, not OpCost"}


@pytest.mark.parametrize("bad", [
    42,
    [OP],
    {"": cube},
    {"my op": cube},
    {"mylib::a.b.c": cube},
    {3: cube},
    {OP: "cube"},
])
def test_bad_formulas_argument(bad: Any) -> None:
    class Exploding(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("the model must not run")

    with pytest.raises(SpecError) as ei:
        analyze(Exploding(), (1, 3), formulas=bad)
    assert ei.value.field == "formulas"
    msg = str(ei.value)
    assert msg.startswith("formulas: got ") and "\n" not in msg


# --------------------------------------------------------------------------- the registry


def test_registry_api() -> None:
    reg = FormulaRegistry()
    assert len(reg) == 0 and "foo" not in reg

    @reg.register("foo.bar", "aten::baz")
    def f1(call: OpCall, counting: str) -> OpCost:
        """forward: 1 add; backward: none."""
        return OpCost(Cost(adds=1))

    reg.zero_cost("a view", "qux")
    assert reg.lookup("foo.bar") is f1 and reg.lookup("baz.default") is f1
    assert reg.lookup("foo.other") is None and reg.missing("foo.other")
    assert reg.zero_cost_reason("qux.default") == "a view" and reg.is_zero_cost("qux.x")
    assert reg.registered_ops() == {"foo.bar": f1, "baz": f1}
    assert reg.zero_cost_ops() == {"qux": "a view"}
    with pytest.raises(SpecError, match="registered once"):
        reg.register("baz")(one_add)
    with pytest.raises(SpecError, match="registered once"):
        reg.zero_cost("again", "foo.bar")
    with pytest.raises(SpecError, match="given twice"):
        reg.add(("x", "x"), one_add)
    # overrides win (a bare name over the registry's own overloads) in a derived copy
    derived = reg.with_overrides({"foo": one_add, "qux": one_add})
    assert derived.lookup("foo.bar") is one_add and derived.lookup("foo.zzz") is one_add
    assert not derived.is_zero_cost("qux.default")
    assert reg.lookup("foo.bar") is f1 and reg.is_zero_cost("qux.default")  # unchanged
    copy = reg.copy()
    copy.add("new", one_add)
    assert "new" in copy and "new" not in reg
    both = FormulaRegistry()
    both.include(reg)
    assert both.registered_ops() == reg.registered_ops()
    with pytest.raises(SpecError):
        both.include(reg)


@pytest.mark.parametrize("name,canonical", [
    ("add.Tensor", "add.Tensor"),
    ("add", "add"),
    ("aten::add.Tensor", "add.Tensor"),
    ("aten.add.Tensor", "add.Tensor"),  # str(torch.ops.aten.add.Tensor)
    ("aten.add", "add"),  # str(torch.ops.aten.add)
    ("mylib::myop", "mylib::myop"),
    ("mylib.myop.default", "mylib::myop.default"),  # str(torch.ops.mylib.myop.default)
])
def test_op_names(name: str, canonical: str) -> None:
    assert canonical_op_name(name) == canonical


def test_formula_registry_resolves_overrides() -> None:
    assert formula_registry() is default_registry()
    assert formula_registry({}) is not default_registry()
    reg = formula_registry({OP: cube})
    assert reg.lookup(f"{OP}.default") is cube and default_registry().lookup(OP) is None


def test_traffic_follows_the_registry_zero_cost_set() -> None:
    t = TensorMeta((2, 3), "float32")
    view = OpCall("view.default", (t, (6,)), outputs=(TensorMeta((6,), "float32"),))
    assert traffic(view) == (0, 0)  # a view moves nothing
    # counted as a real op in an analysis that gives views a formula: 24 B read, 24 written
    assert traffic(view, formula_registry({"view": one_add})) == (24, 24)


def test_importing_formula_modules_changes_no_registry() -> None:
    code = """
import importlib, sys
from convcost.formulas.catalog import FORMULA_MODULES, default_registry
from convcost.formulas.registry import FormulaRegistry
reg = default_registry()
before = (reg.registered_ops(), reg.zero_cost_ops())
for module in FORMULA_MODULES:
    importlib.reload(module)
assert (reg.registered_ops(), reg.zero_cost_ops()) == before
assert default_registry() is reg and len(FormulaRegistry()) == 0
assert "torch" not in sys.modules
print(len(before[0]), len(before[1]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # every module of formulas/ that declares formulas is in the catalog
    root = pathlib.Path(str(importlib.import_module("convcost.formulas").__file__)).parent
    declaring = {p.stem for p in root.glob("*.py") if "\nFORMULAS = FormulaRegistry()" in
                 p.read_text()}
    assert {m.__name__.rsplit(".", 1)[1] for m in FORMULA_MODULES} == declaring
    assert len(declaring) >= 15


#: What a formula module may import from convcost (the layers below ``formulas``).
ALLOWED_BELOW = {"cost", "dtypes", "errors", "expr", "ops", "spec", "vocab"}


def test_formulas_import_nothing_above_them() -> None:
    root = pathlib.Path(str(importlib.import_module("convcost.formulas").__file__)).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] in ("torch", "convcost") for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                assert mod.split(".")[0] != "torch", path.name
                if node.level == 2:  # from ..x import
                    assert mod.split(".")[0] in ALLOWED_BELOW, f"{path.name}: ..{mod}"
                assert node.level <= 2 and not mod.startswith("convcost"), path.name
