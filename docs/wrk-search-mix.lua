-- wrk script: rotates over the search mix of "rummage bench search" (five
-- facets each: brand, category, size, condition, price).
--   wrk -t2 -c16 -d30s --latency -s docs/wrk-search-mix.lua http://127.0.0.1:8080
local f = "&facets=brand,category,size,condition,price"
local paths = {
  "/v1/search?q=black+dress" .. f,
  "/v1/search?q=nike+sneakers" .. f,
  "/v1/search?q=leather+jacket" .. f,
  "/v1/search?q=floral+dress" .. f,
  "/v1/search?q=white+sneakers" .. f,
  "/v1/search?q=vintage+denim" .. f,
  "/v1/search?q=lululemom+leggings" .. f,
  "/v1/search?q=nike+sneakers&brand=Nike&size=10&price_min=2500&price_max=10000" .. f,
  "/v1/search?category=Kids/Clothing/Clothing+Tops" .. f,
  "/v1/search?category=Women/Clothing/Shorts" .. f,
  "/v1/search?category=Men" .. f,
  "/v1/search?category=Men&sort=price_asc" .. f,
  "/v1/search?category=Men&sort=recently_shared" .. f,
  "/v1/search?" .. string.sub(f, 2),
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
