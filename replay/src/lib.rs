//! Keel replay tool (see issue: replay). Placeholder until the loop lands.
