"""Request and response schemas of lookalike audiences and id-file audiences (issue 22).

``POST /v1/audiences/{id}/lookalike`` takes :class:`LookalikeRequest` and answers
:class:`LookalikePublic` (the list's size curve, never its member ids);
``POST /v1/audiences/ids`` answers :class:`IdsAudiencePublic` (the saved audience and what of
the file did not become a member). The other audience schemas are in :mod:`targetwise.service.schemas`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from targetwise.service.schemas import AudiencePublic

__all__ = ["AUDIENCE_NAME", "IdsAudiencePublic", "LookalikePublic", "LookalikeRequest", "SizePointPublic"]

def _whole_number(value: object) -> object:
    """JSON Schema's ``integer``: 500 and 500.0 (a zero fraction), never true/false or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number such as 500")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"must be a whole number such as 500, not {value}")
    return int(value)


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]

#: what an audience name must hold (as AudienceCreate.name): the audience id is made of its letters and digits
AUDIENCE_NAME = {"min_length": 1, "max_length": 80, "pattern": "[A-Za-z0-9]"}


class LookalikeRequest(BaseModel):
    """A lookalike of the seed audience over the served run; ``save_as`` also saves it (a write key)."""

    model_config = ConfigDict(extra="forbid")

    size: WholeNumber = Field(ge=1, le=100_000_000, examples=[500],
                            description="Customers in the list (1 to the customers outside the seed).")
    method: Literal["pu", "knn"] | None = Field(
        default=None, description="pu (calibrated seed-vs-rest classifier) or knn; null: the run config's default."
    )
    save_as: str | None = Field(
        default=None, examples=["lookalike of vips"], description="Save the list as a new audience of this name "
        "(needs a write key; at least one letter or digit). Null: a preview, nothing saved.", **AUDIENCE_NAME,
    )


class SizePointPublic(BaseModel):
    """What a lookalike list of ``size`` customers is expected to hold."""

    size: int
    min_similarity: float = Field(description="Similarity of the last customer in the list (0-1).")
    expected_similarity: float = Field(description="Mean similarity of the list (0-1).")
    spy_recall: float = Field(description="Share of the seed's own members that would rank inside the list.")
    estimated_precision: float = Field(description="Estimated share of the list that is like the seed.")


class LookalikePublic(BaseModel):
    seed_id: str
    run_id: str
    method: Literal["pu", "knn"]
    seed_size: int = Field(description="Seed members with features in the run (the ones the model learns from).")
    seed_without_features: int
    candidates: int = Field(description="Customers outside the seed who may be profiled: the ones ranked.")
    size: int
    expected: SizePointPublic
    curve: list[SizePointPublic]
    excluded: dict[str, int]
    notes: list[str]
    saved: AudiencePublic | None = Field(description="The saved audience (save_as given), else null.")


class IdsAudiencePublic(BaseModel):
    """An audience saved from an id file, and the counts of what the file held that did not become a member."""

    audience: AudiencePublic
    listed: int = Field(description="Distinct ids in the file.")
    unknown: int = Field(description="Ids that are no customer of the run (nor erased): left out.")
    erased: int = Field(description="Ids of erased customers: left out.")
    objected: int = Field(description="Customers who objected to profiling: left out.")
    repeated: int = Field(description="Ids listed more than once (counted once).")
    blank: int = Field(description="Blank lines (skipped).")
    notes: list[str]
