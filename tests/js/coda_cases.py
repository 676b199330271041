"""The calls of the differential suite: Coda's sample packs, each call with the arguments it
is made with and the canned answers of the APIs it reaches (the same ones both runners see).

A call is (sample file, op, name, args, extra request keys, canned responses). Responses are
``{method?, url, status?, headers?, body}``; ``url`` matches the full URL or the URL without
its query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    sample: str
    op: str
    name: str
    args: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    responses: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.sample}:{self.op}:{self.name}{list(self.args)}"


_EMOJIS = [{"annotation": "grinning face", "hexcode": "1F600", "emoji": "\U0001f600",
            "group": "smileys-emotion", "subgroup": "face-smiling", "order": 1},
           {"annotation": "dog face", "hexcode": "1F436", "emoji": "\U0001f436",
            "group": "animals-nature"}]
_EXPENSE = {"id": 7, "description": "Pizza", "date": "2024-01-02T00:00:00Z", "cost": "12.5",
            "details": "with friends", "repeat_interval": "never", "currency_code": "USD",
            "category": {"id": 3, "name": "Food", "icon": "https://x.example/i.png"}}
_PRODUCTS = {"data": {"products": {"edges": [
    {"cursor": "c1", "node": {"id": "gid://1", "title": "Hat", "description": "A hat",
                              "onlineStoreUrl": "https://mock.shop/hat",
                              "featuredImage": {"url": "https://mock.shop/hat.png"}}}]}}}

_FORMS = {"items": [{"title": "Survey", "self": {"href": "https://api.typeform.com/forms/F1"}},
                    {"title": "Poll", "self": {"href": "https://api.typeform.com/forms/F2"}}]}
_FORM = {"title": "Survey", "_links": {"display": "https://x.typeform.com/to/F1"}, "fields": [
    {"id": "f_name", "title": "Your name", "type": "short_text"},
    {"id": "f_age", "title": "Age", "type": "number"},
    {"id": "f_likes", "title": "Likes", "type": "multiple_choice",
     "properties": {"allow_multiple_selection": True}}]}
_RESPONSES = {"items": [{"submitted_at": "2024-05-01T10:00:00Z", "response_id": "r1", "token": "t1",
                         "answers": [{"field": {"id": "f_name"}, "type": "text", "text": "Ada"},
                                     {"field": {"id": "f_age"}, "type": "number", "number": 36},
                                     {"field": {"id": "f_likes"}, "type": "choices",
                                      "choices": {"labels": ["math", "tea"]}}]}]}

_NY = "https://data.ny.gov"
_NY_VIEW = {"id": "abcd-1234", "name": "Bridges", "description": "NY bridges",
            "attribution": "NYSDOT", "attributionLink": "https://www.dot.ny.gov",
            "columns": [
                {"name": "Row", "fieldName": ":id", "dataTypeName": "meta_data", "description": ""},
                {"name": "Name", "fieldName": "name", "dataTypeName": "text", "description": "n"},
                {"name": "Spans", "fieldName": "spans", "dataTypeName": "number",
                 "description": "s"},
                {"name": "Open", "fieldName": "open", "dataTypeName": "checkbox",
                 "description": "o"},
                {"name": "Where", "fieldName": "where", "dataTypeName": "point",
                 "description": "w"},
                {"name": "Page", "fieldName": "page", "dataTypeName": "url", "description": "p"}]}
_NY_ROWS = [{":id": "row-1", "name": "Tappan Zee", "spans": 3, "open": True,
             "where": {"type": "Point", "coordinates": [-73.9, 41.07]},
             "page": {"url": "https://example.org/tz"}},
            {":id": "row-2", "name": "Old One", "spans": 1, "open": False}]
_NY_VIEWS = {"url": f"{_NY}/api/views/abcd-1234.json", "body": _NY_VIEW}
_NY_RESOURCE = {"url": f"{_NY}/resource/abcd-1234.json", "body": _NY_ROWS}

CASES: tuple[Case, ...] = (
    Case("hello_world/hello_world.ts", "formula", "Hello", ("World",)),
    Case("hello_world/minimal.ts", "formula", "Hello", ("Coda",)),
    Case("math/math.ts", "formula", "GCD", ([12, 18, 30],)),
    Case("math/math.ts", "formula", "LCM", ([4, 6],)),
    Case("dates/five_mins_late.ts", "formula", "FiveMinsLate", ("2024-03-01T10:00:00.000Z",)),
    Case("dates/military_time.ts", "formula", "ToMilitaryTime", ("2024-03-01T15:04:00.000Z",)),
    Case("dates/nye_glasses.ts", "formula", "GoodNYEGlasses", ("2024-12-31T20:00:00.000Z",)),
    Case("dates/same_digit.ts", "formula", "SameDigit", ("2022-02-22T22:22:00.000Z",)),
    Case("dates/holidays.ts", "formula", "Holidays", ("US", "2024-07-04T19:00:00.000Z"),
         responses=({"url": "https://calendarific.com/api/v2/holidays",
                     "body": {"response": {"holidays": [
                         {"name": "Independence Day", "description": "Fourth of July",
                          "locations": "All", "type": ["National holiday"], "urlid": "x"}]}}},)),
    Case("dates/holidays.ts", "autocomplete", "Holidays", (), {"param": "country", "search": "uni"},
         responses=({"url": "https://calendarific.com/api/v2/countries",
                     "body": {"response": {"countries": [
                         {"country_name": "United States", "iso-3166": "US"},
                         {"country_name": "United Kingdom", "iso-3166": "GB"},
                         {"country_name": "France", "iso-3166": "FR"}]}}},)),
    Case("parameter/longest.ts", "formula", "Longest", (["a", "abc", "ab"],)),
    Case("parameter/scream.ts", "formula", "Scream", ("hey",)),
    Case("parameter/scream.ts", "formula", "Scream", ("hey", 5, "?")),
    Case("parameter/steps.ts", "formula", "Steps", ("Idea", "Try", "Prototype", "Ship", "Product")),
    Case("parameter/total_cost.ts", "formula", "TotalCost", ([1.5, 2], [2, 3], [0.1, 0])),
    Case("data-type/alt_bold.ts", "formula", "AlternatingBold", ("one two three",)),
    Case("data-type/pizza_eaten.ts", "formula", "PizzaEaten", (3,)),
    Case("data-type/rick_roll.ts", "formula", "Rickroll"),
    Case("data-type/readme.ts", "formula", "GetReadme", ("coda/packs-sdk",),
         responses=({"url": "https://raw.githubusercontent.com/coda/packs-sdk/HEAD/README.md",
                     "headers": {"content-type": "text/plain"}, "body": "# Packs SDK\nhello"},)),
    Case("data-type/to_usd.ts", "formula", "ToUSD", (10, "EUR"),
         responses=({"url": "https://api.exchangerate.host/latest",
                     "body": {"base": "EUR", "rates": {"USD": 10.9}}},)),
    Case("column-format/progress_bar.ts", "formula", "ProgressBar", (0.42,)),
    Case("column-format/reverse.ts", "formula", "Reverse", ("hello world",)),
    Case("column-format/reverse.ts", "formula", "Reverse", ("hello world", True)),
    Case("column-format/roman_numeral.ts", "formula", "RomanNumeral", (1994,)),
    Case("autocomplete/animal_noise.ts", "formula", "AnimalNoise", ("cow",)),
    Case("autocomplete/animal_noise.ts", "autocomplete", "AnimalNoise", (), {"param": "animal", "search": "c"}),
    Case("autocomplete/greeting.ts", "formula", "Greeting", ("es", "Hola", "Ana")),
    Case("autocomplete/greeting.ts", "autocomplete", "Greeting", ("es",), {"param": "greeting", "search": ""}),
    Case("autocomplete/ice_cream.ts", "formula", "OrderIcecream", (2, "flavor", "vanilla", "vessel", "cone")),
    Case("autocomplete/ice_cream.ts", "autocomplete", "OrderIcecream", (2,), {"param": "choice", "search": "v"}),
    # The API answers the price as a string (as Board Game Atlas did) while the formula
    # declares a number: Coda's `coda execute` and Corral's host both refuse that result.
    Case("autocomplete/board_game_atlas.ts", "formula", "GetPrice", ("abc",),
         responses=({"url": "https://api.boardgameatlas.com/api/search",
                     "body": {"games": [{"id": "abc", "name": "Catan", "price": "44.99"}]}},)),
    Case("autocomplete/board_game_atlas.ts", "formula", "GetPrice", ("def",),
         responses=({"url": "https://api.boardgameatlas.com/api/search",
                     "body": {"games": [{"id": "def", "name": "Catacombs", "price": 30.5}]}},)),
    Case("autocomplete/board_game_atlas.ts", "autocomplete", "GetPrice", (), {"param": "gameId", "search": "cat"},
         responses=({"url": "https://api.boardgameatlas.com/api/search",
                     "body": {"games": [{"id": "abc", "name": "Catan", "price": "44.99"},
                                        {"id": "def", "name": "Catacombs", "price": "30"}]}},)),
    Case("fetcher/bacon_ipsum.ts", "formula", "BaconIpsum",
         responses=({"url": "https://baconipsum.com/api/", "body": ["Bacon ipsum.", "Dolor amet."]},)),
    Case("fetcher/mock_shop.ts", "sync", "Products", (),
         responses=({"method": "POST", "url": "https://mock.shop/api", "body": _PRODUCTS},)),
    Case("fetcher/mock_shop.ts", "sync", "Products", (), {"continuation": {"cursor": "c1"}},
         responses=({"method": "POST", "url": "https://mock.shop/api",
                     "body": {"data": {"products": {"edges": []}}}},)),
    Case("fetcher/imgur.ts", "action", "Upload", ("https://x.example/cat.png", "Cat"),
         responses=({"method": "POST", "url": "https://api.imgur.com/3/image",
                     "body": {"data": {"link": "https://i.imgur.com/abc.png"}}},)),
    Case("sync-table/emojis.ts", "sync", "Emojis", (),
         responses=({"url": "https://www.emoji.family/api/emojis", "body": _EMOJIS},)),
    Case("sync-table/emojis.ts", "autocomplete", "Emojis", (), {"param": "group", "search": "an"}),
    Case("two-way/splitwise.ts", "sync", "Expenses", (),
         responses=({"url": "https://secure.splitwise.com/api/v3.0/get_expenses",
                     "body": {"expenses": [_EXPENSE]}},)),
    Case("two-way/splitwise.ts", "sync_update", "Expenses", (), {"updates": [
        {"previous": {"Id": 7, "Description": "Pizza", "Notes": "with friends"},
         "new": {"Id": 7, "Description": "Pizza!", "Notes": "with friends"},
         "updated_fields": ["Description"]}]},
         responses=({"method": "POST", "url": "https://secure.splitwise.com/api/v3.0/update_expense/7",
                     "body": {"expenses": [dict(_EXPENSE, description="Pizza!")]}},)),
    Case("two-way/splitwise.ts", "sync_update", "Expenses", (), {"updates": [
        {"previous": {"Id": 8, "Description": "Taxi"}, "new": {"Id": 8, "Description": ""},
         "updated_fields": ["Description"]}]},
         responses=({"method": "POST", "url": "https://secure.splitwise.com/api/v3.0/update_expense/8",
                     "status": 400, "body": {"errors": {"base": ["Description can't be blank"]}}},)),
    Case("two-way/splitwise.ts", "connection_name", "",
         responses=({"url": "https://secure.splitwise.com/api/v3.0/get_current_user",
                     "body": {"user": {"first_name": "Ada", "last_name": "Lovelace"}}},)),
    Case("action/dice.ts", "action", "RollDice", (0, 6)),
    Case("parameter/weekday.ts", "formula", "CurrentWeekday"),
    Case("dynamic-sync-table/open_data_ny.ts", "dynamic_urls", "PublicDataset",
         responses=({"url": f"{_NY}/api/catalog/v1/domain_categories", "body": {"results": [
             {"domain_category": "Transportation", "count": 4},
             {"domain_category": "Energy", "count": 2}]}},)),
    Case("dynamic-sync-table/open_data_ny.ts", "dynamic_schema", "PublicDataset", (),
         {"url": f"{_NY}/Transportation/Bridges/abcd-1234"},
         responses=(_NY_VIEWS, _NY_RESOURCE)),
    Case("dynamic-sync-table/open_data_ny.ts", "sync", "PublicDataset", (),
         {"url": f"{_NY}/Transportation/Bridges/abcd-1234"},
         responses=(_NY_VIEWS, _NY_RESOURCE)),
    Case("dynamic-sync-table/typeform.ts", "dynamic_urls", "FormResponses",
         responses=({"url": "https://api.typeform.com/forms", "body": _FORMS},)),
    Case("dynamic-sync-table/typeform.ts", "dynamic_schema", "FormResponses", (),
         {"url": "https://api.typeform.com/forms/F1"},
         responses=({"url": "https://api.typeform.com/forms/F1", "body": _FORM},)),
    Case("dynamic-sync-table/typeform.ts", "sync", "FormResponses", (),
         {"url": "https://api.typeform.com/forms/F1"},
         responses=({"url": "https://api.typeform.com/forms/F1", "body": _FORM},
                    {"url": "https://api.typeform.com/forms/F1/responses", "body": _RESPONSES})),
)

_LOOSE = ("the API sends a value of another type than the sample declares; Corral's JS runtime "
          "converts it losslessly to the declared type (guest-sdk/js/runtime/loose_values.js)")

#: Calls whose results differ between the two runners, and why (the suites assert exactly
#: these, each difference holding the text DIVERGENT_SHOWS gives for it).
DIVERGENT: dict[str, str] = {
    "autocomplete/board_game_atlas.ts:formula:GetPrice['abc']":
        f"{_LOOSE}: the price comes as the string \"44.99\" for a Number result, which "
        "`coda execute` refuses (its result validator; the oracle validates formula results) "
        "and Corral answers as 44.99",
    "two-way/splitwise.ts:sync:Expenses[]":
        f"{_LOOSE}: Splitwise sends id as a number and cost as a string; Coda's runner hands "
        "sync rows on untouched (the packs-sdk thunk converts nothing; the oracle does not "
        "validate rows), Corral answers Id \"7\" and Cost 12.5",
    "two-way/splitwise.ts:sync_update:Expenses[]":
        f"{_LOOSE}: the updated row, as for the sync",
}
DIVERGENT_SHOWS: dict[str, str] = {
    "autocomplete/board_game_atlas.ts:formula:GetPrice['abc']": "Corral answered 44.99",
    "two-way/splitwise.ts:sync:Expenses[]": "converted losslessly",
    "two-way/splitwise.ts:sync_update:Expenses[]": "converted losslessly",
}

#: Calls that differ only where Corral's side is the bundle in Node (no host), and why.
NODE_HOST_DIVERGENT: dict[str, str] = {}

_AUTH_ONLY = ("declares only authentication (no formula, so Corral refuses to register it); its "
              "auth kind's mapping is tested in test_manifest, and OAuth2 end to end in "
              "test_end_to_end_http")

#: Samples (of the folders covered) that cannot run on Corral, and why; asserted by the suite.
CANNOT_RUN: dict[str, str] = {
    "action/dice.ts": "RollDice returns random numbers: only a call with no dice (quantity 0) is comparable",
    "authentication/aws.ts": "AWS Signature v4 authentication (AWSAccessKey) has no Corral auth kind",
    "authentication/vonage.ts": "Custom authentication (template substitution of secrets) has no Corral auth kind",
    **{f"authentication/{name}.ts": _AUTH_ONLY for name in (
        "battlenet", "coda", "copper", "giphy", "jira", "okta", "rapidapi", "salesforce", "smarty",
        "twilio")},
}

#: Folders of the covered ones that hold no sample pack at all.
EMPTY_FOLDERS: dict[str, str] = {"schema": "the folder holds only a README.md, no pack"}
