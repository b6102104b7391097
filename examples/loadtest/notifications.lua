-- wrk script: POST /v1/decide/notifications for 10 000 distinct users in turn, so caps and gaps
-- are evaluated against each user's own ledger history (one fixed user would be blocked by the
-- 8 h gap after the first request and never reserve again).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"user_id":"u%d","timezone":"America/New_York","dau_7":5,"wau_4":3,"avg_session_min_7":7.5,' ..
    '"time_since_last_open_hr":20,"notif_count_7":4,"sent_in_last_24h":0,"sent_in_last_7d":3,' ..
    '"hours_since_last":30,"is_trialing":false,"platform":"ios","warmth_delta_14d":0.4,' ..
    '"now":"2026-11-23T17:00:00Z"}', n % 10000)
  return wrk.format(nil, "/v1/decide/notifications", nil, body)
end
