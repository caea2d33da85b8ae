"""Customer segmentation: RFM segments, behavioural clusters, profiles, reasons, stable ids.

Pure estimators on the customer feature table (one row per customer,
``customer_id`` as column or index); no file or database access. ``segment_customers`` combines them into one call.
"""

from targetwise.segment._validation import SegmentationWarning
from targetwise.segment.cluster import (
    DEFAULT_CLUSTER_FEATURES,
    LOG_FEATURES,
    NOISE,
    BehaviourClusterer,
    prediction_strength,
)
from targetwise.segment.profile import FEATURE_WORDS, NOISE_NAME, name_claims, name_segments, profile_segments
from targetwise.segment.reasons import TYPICAL, UNLIKE, describe_feature, explain_customers
from targetwise.segment.result import OUTPUT_COLUMNS, SegmentationResult, segment_customers
from targetwise.segment.rfm import (
    DEFAULT_RFM_GRID,
    DEFAULT_SCORE_MAP,
    RFM_DEFINITIONS,
    RFM_SEGMENTS,
    UNASSIGNED,
    RFMSegmenter,
    grid_to_score_map,
    mid_rank_scores,
)
from targetwise.segment.stability import match_clusters

__all__ = [
    "DEFAULT_CLUSTER_FEATURES",
    "DEFAULT_RFM_GRID",
    "DEFAULT_SCORE_MAP",
    "FEATURE_WORDS",
    "LOG_FEATURES",
    "NOISE",
    "NOISE_NAME",
    "OUTPUT_COLUMNS",
    "RFM_DEFINITIONS",
    "RFM_SEGMENTS",
    "TYPICAL",
    "UNASSIGNED",
    "UNLIKE",
    "BehaviourClusterer",
    "RFMSegmenter",
    "SegmentationResult",
    "SegmentationWarning",
    "describe_feature",
    "explain_customers",
    "grid_to_score_map",
    "match_clusters",
    "mid_rank_scores",
    "name_claims",
    "name_segments",
    "prediction_strength",
    "profile_segments",
    "segment_customers",
]
