"""Config errors a person fixes in one go: each problem once, on its line, in words, with what to write instead.

Given the shipped finops.yaml with one mistake written into its text, When it is loaded, Then the error lists exactly
the problem lines a person reads, each as ``finops.yaml:<line>: <key path>: <what to do>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.models.config import ConfigError, FinOpsConfig, load_config, parse_config
from finops.models.problems import key_path, number_advice, parse_yaml

ROOT = Path(__file__).parents[3]
SHIPPED = (ROOT / "finops.yaml").read_text(encoding="utf-8")


def problems_of(tmp_path: Path, *edits: tuple[str, str]) -> list[str]:
    """Load the shipped file with each (old, new) text edit made once; return the problems, the file's name first."""
    text = SHIPPED
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "finops.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path} is not a valid FinOps config:\n")
    return [p.replace(str(path), "finops.yaml") for p in error.value.problems]


def at(needle: str) -> int:
    """The line of the shipped file the needle is first on (the edits keep the lines where they are)."""
    return next(n for n, line in enumerate(SHIPPED.splitlines(), 1) if needle in line)


def test_a_misspelled_key_is_one_problem_with_the_key_it_meant(tmp_path):
    found = problems_of(tmp_path, ("management_account_id:", "management_acount_id:"))

    assert found == [
        f"finops.yaml:{at('management_account_id:')}: organization.management_acount_id: unknown key; "
        "did you mean `management_account_id`?"
    ]


def test_a_misspelled_optional_key_and_section_get_suggestions_too(tmp_path):
    found = problems_of(
        tmp_path,
        ("member_role_name:", "member_rol_name:"),  # has a default: no "missing" to fold, still a suggestion
        ("\ncapabilities:", "\ncapabilites:"),
    )

    assert found == [
        f"finops.yaml:{at('member_role_name:')}: organization.member_rol_name: unknown key; "
        "did you mean `member_role_name`?",
        f"finops.yaml:{at('capabilities:')}: capabilites: unknown key; did you mean `capabilities`?",
    ]


def test_a_key_with_no_close_match_lists_the_keys_of_its_section(tmp_path):
    found = problems_of(tmp_path, ("  default_channel:", "  fallback:"))

    assert found == [  # a missing key is reported on its section's line
        f"finops.yaml:{at('  slack:')}: notifications.slack.default_channel: required key is missing",
        f"finops.yaml:{at('default_channel:')}: notifications.slack.fallback: unknown key; the keys here are: "
        "secret_name, default_channel",
    ]


def test_a_misspelling_of_a_key_that_is_also_set_says_so(tmp_path):
    found = problems_of(tmp_path, ("  member_role_name:", "  member_role_nam: FinOpsMemberRole\n  member_role_name:"))

    assert found == [
        f"finops.yaml:{at('member_role_name:')}: organization.member_role_nam: unknown key; `member_role_name` is set "
        "as well: remove this one, or merge the two"
    ]


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (
            "12345678901",  # a leading 0 YAML (or a spreadsheet) dropped
            "YAML read this as the number 12345678901 (unquoted, so the leading 0 was lost); quote it: '012345678901'",
        ),
        (
            "012345670123",  # only octal digits: YAML 1.1 reads it as an octal number
            "YAML read 012345670123 as the octal number 1402433619 (unquoted, a leading 0 means octal); "
            "quote it: '012345670123'",
        ),
        ("123456789012", "YAML read this as the number 123456789012 (unquoted); quote it: '123456789012'"),
        ("'1234'", "expected a 12-digit account id, quoted, e.g. '012345678901' (got '1234')"),
        (
            "'1234-5678-9012'",
            "expected a 12-digit account id, quoted, e.g. '012345678901' (got '1234-5678-9012'); "
            "did you mean '123456789012'?",
        ),
        ("yes", "expected a 12-digit account id, quoted, e.g. '012345678901' (got True)"),
    ],
)
def test_an_account_id_problem_says_what_yaml_read_and_how_to_quote_it(tmp_path, written, problem):
    found = problems_of(tmp_path, ('automation_account_id: "222222222222"', f"automation_account_id: {written}"))

    assert found == [f"finops.yaml:{at('automation_account_id:')}: organization.automation_account_id: {problem}"]


def test_an_unquoted_id_in_a_list_or_as_a_mapping_key_is_found_where_it_is(tmp_path):
    found = problems_of(
        tmp_path,
        ("excluded_accounts: []", "excluded_accounts: ['333333333333', 44444444444]"),
        ('    "222222222222": platform', "    22222222222: platform"),
    )

    assert found == [
        f"finops.yaml:{at('excluded_accounts:')}: organization.excluded_accounts[1]: YAML read this as the number "
        "44444444444 (unquoted, so the leading 0 was lost); quote it: '044444444444'",
        f"finops.yaml:{at('222222222222' + chr(34) + ': platform')}: notifications.account_teams.22222222222: YAML read this as "
        "the number 22222222222 (unquoted, so the leading 0 was lost); quote it: '022222222222'",
    ]


def test_patterns_are_said_in_words_and_choices_get_a_suggestion(tmp_path):
    found = problems_of(
        tmp_path,
        ("regions: [eu-west-1, us-east-1]", "regions: [eu-west-1, us-east]"),
        ("    mode: report                          # report: list what would start", "    mode: enforse  # x"),
    )

    assert found == [
        f"finops.yaml:{at('regions: [')}: organization.regions[1]: expected an AWS region name, e.g. eu-west-1 "
        "(got 'us-east')",
        f"finops.yaml:{at('    mode: report                          # report: list what would start')}: capabilities.scheduler.mode: Input should be 'report' or 'enforce' "
        "(got 'enforse'); did you mean 'enforce'?",
    ]


def test_a_scheduler_problem_names_the_period_and_its_line(tmp_path):
    """A model-level check (two periods that overlap) points at the later period, with its own line."""
    office = '          - {days: [mon, tue, wed, thu, fri], start: "07:00", stop: "19:00"}'
    early = '          - {days: [mon], start: "06:00", stop: "08:00"}'

    found = problems_of(tmp_path, (office, f"{office}\n{early}"))

    path = "capabilities.scheduler.schedules.office-hours.periods[1]"
    assert found == [f"finops.yaml:{at(office) + 1}: {path}: overlaps periods[0] on mon (07:00-19:00 and 06:00-08:00)"]


def test_problems_are_listed_in_the_files_order_all_at_once(tmp_path):
    found = problems_of(
        tmp_path,
        ("secret_name: finops/slack", "secret: finops/slack"),
        ("management_account_id:", "management_acount_id:"),
    )

    assert [int(p.split(":")[1]) for p in found] == sorted(int(p.split(":")[1]) for p in found)
    assert len(found) == 2, found  # the two misspellings: no "missing" echo of either


def test_data_without_a_file_has_no_lines_but_the_same_words():
    """What the Lambdas read (JSON made from the validated file) and what tests build: paths, no line numbers."""
    data = parse_yaml(SHIPPED).data
    assert isinstance(data, dict)
    data["organization"]["management_account_id"] = 12345678901

    with pytest.raises(ConfigError) as error:
        parse_config(data, source="config.json")

    assert error.value.problems == [
        "organization.management_account_id: YAML read this as the number 12345678901 (unquoted, so the leading 0 "
        "was lost); quote it: '012345678901'"
    ]


def test_the_shipped_file_still_loads_through_the_marked_parse():
    assert isinstance(load_config(ROOT / "finops.yaml"), FinOpsConfig)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (
            ("capabilities", "scheduler", "schedules", "office-hours", "periods", 0, "start"),
            "capabilities.scheduler.schedules.office-hours.periods[0].start",
        ),
        (("notifications", "account_teams", 123456789012, "[key]"), "notifications.account_teams.123456789012"),
        (("schedules", "office hours", "timezone"), 'schedules["office hours"].timezone'),
        (("a", "function-after[_check(), str]", "b"), "a.b"),
        ((), "(top level)"),
    ],
)
def test_key_paths_are_written_one_way(loc, path):
    assert key_path(loc) == path


@given(st.integers(min_value=1, max_value=10**11 - 1))
def test_a_number_shorter_than_an_account_id_is_quoted_back_to_twelve_digits(number):
    advice = number_advice(number, None, account_id=True)

    assert advice.endswith(f"quote it: '{number:012d}'")
