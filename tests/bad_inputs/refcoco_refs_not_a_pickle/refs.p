ref_id,sent
1,man on the left
