import * as fg from '../src';
import * as pkg from '../package.json';

describe('package', () => {
  it('exports the version of package.json', () => {
    expect(fg.version).toBe(pkg.version);
  });
});
