// The live party's head: GET /v1/parties/{id} is small and cacheable
// (s-maxage of a couple of seconds), so thousands of shoppers polling it
// every few seconds cost the origin little. poll reports how many shares
// arrived since the feed on screen was loaded; the page offers them as
// "N new — tap to refresh" rather than moving the grid.

export class PartyHead {
  constructor(get, id) {
    this.get = get;
    this.path = '/v1/parties/' + encodeURIComponent(id);
    this.base = null; // share_count of the feed on screen
  }

  // reset fetches the head for a (re)loaded feed: fresh shares count from here.
  async reset() {
    const p = await this.get(this.path);
    this.base = p.share_count || 0;
    return p;
  }

  // poll fetches the head and returns it with the shares since reset.
  async poll() {
    const p = await this.get(this.path);
    if (this.base === null) this.base = p.share_count || 0;
    return { party: p, fresh: Math.max(0, (p.share_count || 0) - this.base) };
  }
}
