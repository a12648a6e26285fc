import { createRouter } from '../../../local/http/router';

const routes = [
  { method: 'POST', path: '/handovers', name: 'handover' },
  { method: 'GET', path: '/handovers', name: 'audit' },
  { method: 'GET', path: '/users/{userId}/owner', name: 'owner' },
  { method: 'GET', path: '/users/{userId}/handovers', name: 'userHistory' },
  { method: 'POST', path: '/webhooks/parley/{serviceId}', name: 'inbound' },
] as const;

describe('route matcher', () => {
  const router = createRouter(routes);

  it('finds the route of a method and path, with its parameters percent-decoded', () => {
    const found = router.match('GET', '/users/user%2020/owner');

    expect(found).toEqual({ route: routes[2], params: { userId: 'user 20' } });
  });

  it('keeps a parameter that cannot be decoded as it was sent', () => {
    expect(router.match('GET', '/users/%E0%A4%A/owner')).toEqual({
      route: routes[2],
      params: { userId: '%E0%A4%A' },
    });
  });

  it('takes an encoded slash as part of one parameter', () => {
    expect(router.match('GET', '/users/a%2Fb/handovers')).toEqual({
      route: routes[3],
      params: { userId: 'a/b' },
    });
  });

  it('tells a path of another method (with the methods allowed) from one that matches nothing', () => {
    expect(router.match('DELETE', '/handovers')).toEqual({ route: null, allowed: ['POST', 'GET'] });
    expect(router.match('GET', '/nowhere')).toEqual({ route: null, allowed: [] });
  });

  it('matches whole segments only: no empty parameter, no extra or missing segment', () => {
    expect(router.match('GET', '/users//owner')).toEqual({ route: null, allowed: [] });
    expect(router.match('GET', '/users/20/owner/')).toEqual({ route: null, allowed: [] });
    expect(router.match('GET', '/users/20')).toEqual({ route: null, allowed: [] });
    expect(router.match('POST', '/handovers.json')).toEqual({ route: null, allowed: [] });
  });

  it('matches segments the caller split and decoded itself, parameters as given', () => {
    const sim = createRouter([
      { method: 'GET', path: 'services' },
      { method: 'PUT', path: 'users/{userId}/agent/unset' },
    ]);

    expect(sim.matchSegments('PUT', ['users', 'a/b', 'agent', 'unset'])).toEqual({
      route: { method: 'PUT', path: 'users/{userId}/agent/unset' },
      params: { userId: 'a/b' },
    });
    expect(sim.matchSegments('GET', ['services'])).toMatchObject({ params: {} });
    expect(sim.matchSegments('POST', ['services'])).toEqual({ route: null, allowed: ['GET'] });
  });

  it('answers the first route in table order when two could match', () => {
    const ordered = createRouter([
      { method: 'GET', path: '/users/{userId}/owner', name: 'first' },
      { method: 'GET', path: '/users/{other}/owner', name: 'second' },
    ]);

    expect(ordered.match('GET', '/users/7/owner')).toMatchObject({ route: { name: 'first' } });
  });
});
