"""The TOML config is validated at start, and every error names the bad key."""

from __future__ import annotations

import tomllib

import pytest

from spanscope.sampling.config import ConfigError, parse_config


def _parse(text: str):  # type: ignore[no-untyped-def]
    return parse_config(tomllib.loads(text))


BASE = """
[tail_sampling]
[[tail_sampling.policies]]
name = "errors"
type = "status_code"
status_codes = ["ERROR"]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tail_sampling]\ndecision_wait = "soon"\n', "tail_sampling.decision_wait = 'soon'"),
        (BASE.replace('"ERROR"', '"BAD"'), "tail_sampling.policies[0].status_codes"),
        (
            BASE + '[[tail_sampling.policies]]\nname = "x"\ntype = "nope"\n',
            "tail_sampling.policies[1].type = 'nope'",
        ),
        (
            BASE
            + '[[tail_sampling.policies]]\nname = "x"\ntype = "latency"\nthreshold = "1 sec"\n',
            "tail_sampling.policies[1].threshold = '1 sec'",
        ),
        (
            BASE + '[[tail_sampling.policies]]\nname = "x"\ntype = "probabilistic"\nrate = 1.5\n',
            "tail_sampling.policies[1].rate = 1.5",
        ),
        (
            BASE + '[[tail_sampling.policies]]\nname = "errors"\ntype = "always_sample"\n',
            "used twice",
        ),
        (
            BASE + '[[tail_sampling.policies]]\nname = "x"\ntype = "string_attribute"\n'
            'values = ["a"]\n',
            "needs key 'key'",
        ),
        (
            BASE + '[[tail_sampling.policies]]\nname = "x"\ntype = "span_count"\nmin = 2\n'
            "colour = 1\n",
            "unknown key 'colour'",
        ),
        ('[retention]\nnormal = "7 weeks"\n', "retention.normal = '7 weeks'"),
        ("[tail_sampling]\nmax_traces = 0\n", "tail_sampling"),
        ("[retentoin]\n", "unknown key 'retentoin'"),
    ],
)
def test_errors_name_the_bad_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(text)
    assert message in str(err.value)


def test_seed_priority_table_is_expressible() -> None:
    config = _parse(
        BASE
        + """
[[tail_sampling.policies]]
name = "slow"
type = "latency"
threshold = "1s"
operations = { "GET /search" = "300ms" }
[[tail_sampling.policies]]
name = "health"
type = "string_attribute"
key = "http.route"
values = ["/health*"]
rate = 0.001
[[tail_sampling.policies]]
name = "checkout"
type = "and"
conditions = [{ type = "string_attribute", key = "http.route", values = ["/checkout*"] },
              { type = "numeric_attribute", key = "http.status_code", max = 499 }]
rate = 0.5
[[tail_sampling.policies]]
name = "budget"
type = "composite"
max_total_spans_per_second = 1000
policies = [{name="vip", type="boolean_attribute", key="user.vip", value=true, share=50},
            { name = "rest", type = "always_sample", share = 50 }]
"""
    )
    assert config.tail_sampling is not None
    names = [p.name for p in config.tail_sampling.policies]
    assert names == ["errors", "slow", "health", "checkout", "budget"]
    assert config.tail_sampling.policies[2].rate == 0.001
    from spanscope.sampling.policies import Policies

    compiled = Policies(config.tail_sampling.policies)
    assert compiled.names == ["errors", "slow", "health", "checkout", "budget/vip", "budget/rest"]
    assert compiled.policies[-1].spans_per_second == 500


def test_no_config_keeps_everything() -> None:
    assert parse_config({}).tail_sampling is None
